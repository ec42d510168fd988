"""Run the sandbox: in this process (``serve``) or as a child process (``SandboxProcess``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys

from aiohttp import web

from cancelq.core.process import ChildProcess, ChildProcessFailed

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
            import uvloop

            uvloop.run(_serve(host, port))
        except ImportError:
            asyncio.run(_serve(host, port))


class SandboxProcess(ChildProcess):
    """The sandbox in a child process, so it never competes with the caller's GIL.

    Ready when it prints its address (the first line of its stdout).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(name="the sandbox", stop_timeout_s=5.0)
        self.host, self.port = host, port
        self.url = ""

    def start(self) -> str:
        argv = [sys.executable, "-m", "cancelq.sandbox", "--host", self.host, "--port", str(self.port)]
        self.launch(argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                    ready=self._said_ready)
        return self.url

    def _said_ready(self) -> bool:
        """Reads the first line (blocking until the child prints it or exits) and takes the URL from it."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline().decode(errors="replace")
        if not line.startswith(READY_PREFIX):
            raise ChildProcessFailed(f"the sandbox did not start (it said {line!r})")
        self.url = line[len(READY_PREFIX):].strip()
        return True
