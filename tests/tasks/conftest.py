"""A runtime on the session's Valkey (flushed for each test) for the task tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cancelq.runtime import Runtime


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()
