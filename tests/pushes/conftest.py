"""A runtime on the session's Valkey (flushed for each test) and a push processor on it, in the test process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from cancelq.core.settings import Settings
from cancelq.pushes.processor import PushProcessor
from cancelq.runtime import Runtime

MakeRuntime = Callable[..., Runtime]


@pytest.fixture()
def make_rt(redis_client: redis.Redis) -> Iterator[MakeRuntime]:
    """Runtimes with settings of the test's own (``make_rt(verify_within_s=0.5)``), closed after it."""
    made: list[Runtime] = []

    def make(**settings: object) -> Runtime:
        runtime = Runtime(settings=Settings(**settings))  # type: ignore[arg-type]
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.session.close()


@pytest.fixture()
def rt(make_rt: MakeRuntime) -> Runtime:
    return make_rt()


@pytest.fixture()
def processor(rt: Runtime) -> Iterator[PushProcessor]:
    """A push consumer thread, as a worker runs one."""
    consumer = PushProcessor(rt, "test@pushes", block_ms=50)
    consumer.start()
    yield consumer
    consumer.stop()
