"""Shared fixtures: one sandbox process and one private Valkey server per test session.

The Valkey server starts in ``pytest_configure``, before any test module is
imported, because importing the Celery app resolves the Redis URL.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from kombu.connection import Connection

from cancelq.client import CancelQ
from cancelq.core.embedded import ValkeyProcess
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

from .helpers import FAST_SETTINGS, unavailable

_valkey: ValkeyProcess | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _valkey
    _valkey = ValkeyProcess(Path(tempfile.mkdtemp(prefix="cancelq-test-valkey-")))
    os.environ["CANCELQ_REDIS_URL"] = _valkey.start()
    os.environ.update(FAST_SETTINGS)
    os.environ.pop("CANCELQ_BROKER_URL", None)
    os.environ.pop("CANCELQ_CONFIG", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _valkey is not None:
        _valkey.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["CANCELQ_REDIS_URL"]


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    """The Python API on a fresh runtime (the process's settings), on an emptied Valkey; test files that need
    other settings define their own."""
    reset_runtime()
    runtime = Runtime()
    yield CancelQ(runtime)
    runtime.session.close()


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    with SandboxProcess() as proc:
        yield proc.url


@pytest.fixture()
def sandbox(sandbox_url: str) -> Iterator[SandboxClient]:
    client = SandboxClient(sandbox_url)
    client.reset()
    yield client
    client.reset()


@pytest.fixture()
def http_session() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


AMQP_URL = os.environ.get("CANCELQ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The machine's RabbitMQ (``CANCELQ_TEST_AMQP_URL``); without one the test cannot run (a failure in CI)."""
    try:
        with Connection(AMQP_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        unavailable(f"RabbitMQ is not reachable at {AMQP_URL} ({type(exc).__name__}): the tests with a "
                    "RabbitMQ broker did not run")
    return AMQP_URL


@pytest.fixture()
def amqp_queue(amqp_url: str) -> Iterator[str]:
    """A RabbitMQ queue of the test's own, deleted afterwards."""
    name = f"cancelq-test-{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(amqp_url) as conn:
        conn.default_channel.queue_delete(name)
