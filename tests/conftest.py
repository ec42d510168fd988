"""Shared fixtures: one sandbox process and one private Valkey server per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess


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
