"""A real uvicorn server running the API in a thread of the test process, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cancelq.api.app import make_app
from cancelq.core.embedded import free_port
from cancelq.core.process import ChildProcess
from cancelq.runtime import Runtime
from tests.helpers import wait_until


class ApiServer:
    """``with ApiServer(rt) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(make_app(rt), host="127.0.0.1", port=self.port, access_log=False,
                                log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"api-{self.port}", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout_s=15, what="the API server to start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ApiProcess(ChildProcess):
    """``cancelq api`` as its own process (logging JSON lines to ``log_path``); ready when /healthz answers."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CANCELQ_LOG_FORMAT": "json", **(env or {})}
        super().__init__(name=f"cancelq api on {self.port}", stop_timeout_s=10.0, ready_timeout_s=30.0)

    def start(self) -> ApiProcess:
        argv = [sys.executable, "-m", "cancelq.cli.main", "api", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.launch(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, ready=self._answers)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def last_words(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]
