"""One ``cancelq flower`` with the console for this package's tests, on the session's Valkey."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cancelq.runtime import Runtime
from tests.ops.console.server import ConsoleServer


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = ConsoleServer(tmp_path_factory.mktemp("console") / "flower.log").start()
    yield server
    server.stop()


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()
