"""Test helpers: waiting on conditions, a real worker process, shop set-up from the kits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from cancelq.core import connections, keys
from cancelq.core.process import ChildProcess
from cancelq.sandbox.control import SandboxClient

T = TypeVar("T")

FAST_SETTINGS = {
    "CANCELQ_RETRY_BASE_S": "0.05",
    "CANCELQ_RETRY_CAP_S": "0.4",
    "CANCELQ_MAX_ATTEMPTS": "4",
    "CANCELQ_LEASE_S": "3",
    "CANCELQ_TASK_TIME_LIMIT_S": "2.5",
    "CANCELQ_PUMP_INTERVAL_S": "0.05",
    "CANCELQ_HTTP_READ_TIMEOUT_S": "1.0",
    "CANCELQ_HTTP_CONNECT_TIMEOUT_S": "1.0",
    "CANCELQ_AUTH_WAIT_S": "0.5",
    "CANCELQ_CONFIG_RECHECK_S": "0.3",
    "CANCELQ_BUDGET_RECHECK_S": "0.3",
    "CANCELQ_DEFAULT_RATE_LIMIT_WAIT_S": "0.2",
    "CANCELQ_RATE_LIMIT_JITTER_S": "0.05",
    "CANCELQ_LOG_FORMAT": "json",
    "CANCELQ_LOG_LEVEL": "INFO",
    "CANCELQ_METRICS_PORT": "0",
}


def wait_until(condition: Callable[[], T], *, timeout_s: float = 20.0, what: str = "condition",
               poll_s: float = 0.02) -> T:
    """Poll ``condition`` every ``poll_s`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(poll_s)  # the poll interval of a condition wait, not a synchronisation


class WorkerProcess(ChildProcess):
    """``cancelq worker`` in a child process, logging JSON to a file; ready when its heartbeat key appears.

    ``prefix`` is a command it runs under, e.g. ``ip netns exec NS`` for a worker on another (namespaced) host."""

    def __init__(self, log_path: Path, redis_url: str, *, concurrency: int = 8, name: str = "w1",
                 env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> None:
        self.log_path = log_path
        self.prefix = list(prefix)
        self.redis_url = redis_url
        self.concurrency = concurrency
        self.hostname = f"{name}@test"
        self.env = {**os.environ, **FAST_SETTINGS, "CANCELQ_REDIS_URL": redis_url, **(env or {})}
        super().__init__(name=f"worker {self.hostname}", stop_timeout_s=15.0, ready_timeout_s=30.0)

    def start(self) -> WorkerProcess:
        argv = [*self.prefix, sys.executable, "-m", "cancelq.cli.main", "worker",
                "--concurrency", str(self.concurrency), "--hostname", self.hostname, "--loglevel", "warning"]
        with connections.client(self.redis_url) as client:
            heartbeat = keys.worker(self.hostname)
            client.delete(heartbeat)
            with self.log_path.open("ab") as log:
                self.launch(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                            ready=lambda: bool(client.exists(heartbeat)))
        return self

    def last_words(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]


def add_kit_shop(kit: Any, sandbox: SandboxClient, shops: Any, sandbox_url: str, name: str | None = None, *,
                 limits: dict[str, Any] | None = None) -> str:
    """The kit's shop in the sandbox and in the registry (with its own ``limits``, if given); returns the registry
    name."""
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    name = name or f"{kit.platform}-shop"
    shops.add(kit.platform, name, dict(kit.credentials), base_url=sandbox_url, limits=limits)
    return name


REQUIRE_ALL = "CANCELQ_TESTS_REQUIRE_ALL"
"""Set by ``.ci/run``: a test that would skip for want of a machine feature (Chromium, network namespaces)
fails instead, so CI proves it ran."""


def unavailable(reason: str) -> NoReturn:
    """Skip for ``reason`` on a machine without what the test needs; fail under CI (``REQUIRE_ALL``)."""
    if os.environ.get(REQUIRE_ALL):
        pytest.fail(f"{reason} ({REQUIRE_ALL} is set: CI must run this test)")
    pytest.skip(reason, allow_module_level=True)
