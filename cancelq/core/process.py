"""One way to run a child process: start it, wait until it is ready, stop it.

``ChildProcess`` is what the private Valkey server, the sandbox, the demo's worker
and the tests' worker have in common. Stopping is always the same: SIGTERM, a
grace period for a clean shutdown, then SIGKILL, and a wait either way so that no
zombie is left behind.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

Output = int | IO[Any] | None
"""Where a child's stdout or stderr goes: ``subprocess.DEVNULL``/``PIPE``, an open file, or inherited."""


class ChildProcessFailed(RuntimeError):
    """The child exited, or did not become ready in time, before it could be used."""


def poll_until(check: Callable[[], bool], *, timeout_s: float, poll_s: float = 0.02,
               give_up: Callable[[], bool] = lambda: False) -> bool:
    """True as soon as ``check()`` is; False once ``give_up()`` is or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        if give_up():
            return False
        time.sleep(poll_s)
    return False


class ChildProcess:
    """A child process started with ``launch`` and stopped with ``stop``; subclasses add ``start``.

    As a context manager it calls ``start()`` on entry and ``stop()`` on exit.
    """

    def __init__(self, *, name: str = "child process", stop_timeout_s: float = 10.0,
                 ready_timeout_s: float = 10.0) -> None:
        self.name = name
        self.stop_timeout_s = stop_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The running child's ``Popen``, None before ``launch`` and after ``stop`` or ``kill``."""
        return self._proc

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> object:
        """Build the command line and ``launch`` it; what it returns is the subclass's to say."""
        raise NotImplementedError(f"{type(self).__name__} has no start(); call launch() instead")

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
               stdout: Output = subprocess.DEVNULL, stderr: Output = subprocess.DEVNULL,
               ready: Callable[[], bool] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` and, with ``ready``, poll it until it holds (the child is stopped if it never does)."""
        self._proc = proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                             stdout=stdout, stderr=stderr)
        if ready is not None:
            try:
                self._wait_ready(proc, ready)
            except BaseException:
                self.stop()
                raise
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
        if poll_until(ready, timeout_s=self.ready_timeout_s, give_up=lambda: proc.poll() is not None):
            return
        why = f"exited with {proc.returncode}" if proc.poll() is not None else \
            f"was not ready after {self.ready_timeout_s:g}s"
        detail = self.last_words()
        raise ChildProcessFailed(f"{self.name} {why}" + (f": {detail}" if detail else ""))

    def last_words(self) -> str:
        """What the child said before failing to start (a log's tail), for the error; nothing by default."""
        return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still running after ``stop_timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _close_pipes(proc)

    def kill(self) -> None:
        """SIGKILL at once (a crash, as tests and the chaos run stage it)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            _close_pipes(proc)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
