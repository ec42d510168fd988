"""A real ``cancelq flower`` (Flower with the console) on a free loopback port, and a client for its forms."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cancelq.core.embedded import free_port
from tests.helpers import wait_until

CANCELQ = str(Path(sys.executable).parent / "cancelq")
USERS = {"ops": "console-test-pw-ops-4Kd", "viewer": "console-test-pw-viewer-9Zq"}
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


@dataclass
class ConsoleServer:
    log: Path
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConsoleServer:
        env = {**os.environ, "CANCELQ_FLOWER_BASIC_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
               "CANCELQ_CONSOLE_OPERATORS": "ops", **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [CANCELQ, "flower", "--port", str(self.port), "--address", "127.0.0.1",
                 "--db", str(self.log.with_suffix(".db")), *self.extra], stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self._answers() or self.proc is None or self.proc.poll() is not None, timeout_s=30,
                   what="cancelq flower answering")
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthcheck", timeout=1).text == "OK"
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)

    def session(self, user: str = "ops") -> Browserless:
        session = requests.Session()
        session.auth = (user, USERS[user])
        return Browserless(self.url, session)


@dataclass
class Browserless:
    """A signed-in user posting the console's forms as a browser without JavaScript would."""

    url: str
    http: requests.Session

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.url + path, params=params, timeout=10, allow_redirects=True)

    def token(self, path: str = "/cancelq/dead") -> str:
        match = XSRF.search(self.get(path).text)
        assert match, f"no xsrf token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None, *,
             token: bool = True, follow: bool = True) -> requests.Response:
        form: list[tuple[str, str]] = list(data.items()) if isinstance(data, dict) else list(data or [])
        if token:
            form.append(("_xsrf", self.token()))
        return self.http.post(self.url + path, data=form, timeout=30, allow_redirects=follow,
                              headers={"Origin": self.url})
