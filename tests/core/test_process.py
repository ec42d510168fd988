"""ChildProcess: readiness, the terminate -> kill escalation, failures that say why; Valkey restarted in place."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import redis

from cancelq.core.embedded import ValkeyProcess
from cancelq.core.process import ChildProcess, ChildProcessFailed

# A child that marks itself ready by creating a file, then waits for signals until one ends it.
CHILD = """
import signal, sys
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").close()
while True:
    signal.pause()
"""


def _child(tmp_path: Path, mode: str = "obey-term") -> tuple[list[str], Path]:
    marker = tmp_path / "ready"
    return [sys.executable, "-c", CHILD, str(marker), mode], marker


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_launch_waits_for_readiness_and_stop_terminates(tmp_path: Path) -> None:
    argv, marker = _child(tmp_path)
    child = ChildProcess(name="test child")
    proc = child.launch(argv, ready=marker.exists)

    assert marker.exists() and child.running and child.pid == proc.pid
    child.stop()
    assert proc.returncode == -signal.SIGTERM
    assert child.proc is None and not child.running
    child.stop()  # a second stop is harmless


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    argv, marker = _child(tmp_path, "ignore-term")
    child = ChildProcess(name="stubborn child", stop_timeout_s=0.3)
    proc = child.launch(argv, ready=marker.exists)

    child.stop()

    assert proc.returncode == -signal.SIGKILL


def test_a_child_that_exits_before_it_is_ready_fails_with_its_last_words(tmp_path: Path) -> None:
    class Talker(ChildProcess):
        def last_words(self) -> str:
            return "address already in use"

    child = Talker(name="short-lived child")
    with pytest.raises(ChildProcessFailed, match=r"short-lived child exited with 3: address already in use"):
        child.launch([sys.executable, "-c", "raise SystemExit(3)"], ready=lambda: False)
    assert child.proc is None


def test_a_child_never_ready_is_stopped_when_the_wait_ends(tmp_path: Path) -> None:
    argv, _ = _child(tmp_path)
    pids: list[int] = []
    child = ChildProcess(name="slow child", ready_timeout_s=0.5)

    def never() -> bool:
        if child.pid is not None and child.pid not in pids:
            pids.append(child.pid)
        return False

    with pytest.raises(ChildProcessFailed, match=r"slow child was not ready after 0.5s"):
        child.launch(argv, ready=never)
    assert pids and _gone(pids[0]), "the child was stopped and reaped"
    assert child.proc is None


def test_the_context_manager_starts_and_stops(tmp_path: Path) -> None:
    argv, marker = _child(tmp_path)

    class Sleeper(ChildProcess):
        def start(self) -> Sleeper:
            self.launch(argv, ready=marker.exists)
            return self

    with Sleeper(name="sleeper") as sleeper:
        pid = sleeper.pid
        assert pid is not None and sleeper.running
    assert pid is not None and _gone(pid) and sleeper.proc is None
    with pytest.raises(NotImplementedError, match="call launch"):
        ChildProcess().start()


def test_valkey_stops_cleanly_with_its_data_and_restarts_on_its_port_after_a_kill(tmp_path: Path) -> None:
    valkey = ValkeyProcess(tmp_path / "valkey", persist=True)
    url = valkey.start()
    try:
        with redis.Redis.from_url(url) as client:
            client.set("k", "v")
        valkey.stop()  # SIGTERM: Valkey flushes its append-only file on the way out
        assert valkey.start() == url
        with redis.Redis.from_url(url) as client:
            assert client.get("k") == b"v"
        valkey.kill()
        with pytest.raises(redis.ConnectionError), redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            client.ping()
        assert valkey.start() == url
        with redis.Redis.from_url(url) as client:
            assert client.ping()
    finally:
        valkey.stop()
    assert not valkey.running
