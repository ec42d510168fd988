"""Run the sandbox: in this process (``serve``) or as a child process (``SandboxProcess``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from types import TracebackType

from aiohttp import web

from .app import build_app

READY_PREFIX = "sandbox listening on "


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(build_app(), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"{READY_PREFIX}http://{host}:{bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted. Port 0 picks a free one; the first line printed names it."""
    logging.getLogger("aiohttp").setLevel(logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop  # type: ignore[import-not-found]

            uvloop.run(_serve(host, port))
        except ImportError:
            asyncio.run(_serve(host, port))


class SandboxProcess:
    """The sandbox in a child process, so it never competes with the caller's GIL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "cancelq.sandbox", "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"the sandbox did not start (it said {line!r})")
        self.url = line[len(READY_PREFIX):].strip()
        return self.url

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()
