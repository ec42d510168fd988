"""A real ``cancelq flower`` (Flower with the console) on a free loopback port, and a client for its forms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cancelq.core.embedded import free_port
from cancelq.core.process import ChildProcess

CANCELQ = str(Path(sys.executable).parent / "cancelq")
USERS = {"ops": "console-test-pw-ops-4Kd", "viewer": "console-test-pw-viewer-9Zq"}
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


class ConsoleServer(ChildProcess):
    """``cancelq flower`` in a child process, ready when Flower's ``/healthcheck`` answers."""

    def __init__(self, log: Path, extra: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(name="cancelq flower", stop_timeout_s=15.0, ready_timeout_s=30.0)
        self.log, self.extra, self.env, self.port = log, extra or [], env or {}, free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConsoleServer:
        env = {**os.environ, "CANCELQ_FLOWER_BASIC_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
               "CANCELQ_CONSOLE_OPERATORS": "ops", **self.env}
        with self.log.open("ab") as out:
            self.launch([CANCELQ, "flower", "--port", str(self.port), "--address", "127.0.0.1",
                         "--db", str(self.log.with_suffix(".db")), *self.extra], env=env, stdout=out,
                        stderr=subprocess.STDOUT, ready=self._answers)
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthcheck", timeout=1).text == "OK"
        except requests.ConnectionError:
            return False

    def last_words(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

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
