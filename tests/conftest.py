"""Shared fixtures: one sandbox process and one private Valkey server per test session.

The Valkey server starts in ``pytest_configure``, before any test module is
imported, because importing the Celery app resolves the Redis URL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from cancelq.client import CancelQ
from cancelq.core.embedded import ValkeyProcess
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

from .helpers import FAST_SETTINGS

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
