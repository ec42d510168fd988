"""A webhook endpoint through the chaos run: a local receiver subscribed to every ``cancel.*`` event, which must
have received each one at least once (by its ``webhook-id``, signature verified with ``standardwebhooks``)
once the run drains, with no secret in any body it was sent."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from standardwebhooks import Webhook

from cancelq.core import keys
from cancelq.delivery.endpoints import Endpoints
from cancelq.shops.registry import Sealer

from ..helpers import wait_until


class HookWatch:
    """The receiver and its endpoint; ``missing`` says which outcome events it never got."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self.ids: set[str] = set()
        self.bodies: list[bytes] = []
        self.bad = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{self.server.server_address[1]}/chaos-hooks"
        endpoint = Endpoints(client, Sealer(None), allow_private=True).add(url, events=["cancel.*"])
        self.endpoint_id, self.secret = endpoint.id, endpoint.secret

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        watch = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                watch.received(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def received(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            Webhook(self.secret).verify(body, headers)
        except Exception:
            with self.lock:
                self.bad += 1
            return
        with self.lock:
            self.ids.add(headers.get("webhook-id", "").rpartition(":")[0])
            self.bodies.append(body)

    def expected(self) -> set[str]:
        out: set[str] = set()
        start = "-"
        while True:
            entries: Any = self.r.xrange(keys.EVENTS, min=start, count=5000)
            out |= {_s(i) for i, f in entries if _s(f.get(b"type", f.get("type", ""))).startswith("cancel.")}
            if len(entries) < 5000:
                return out
            start = "(" + _s(entries[-1][0])

    def missing(self) -> list[str]:
        with self.lock:
            return sorted(self.expected() - self.ids)

    def wait(self, timeout_s: float) -> list[str]:
        """The outcome events still missing once every one arrived, or ``timeout_s`` passed."""
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not self.missing(), timeout_s=timeout_s, poll_s=0.2,
                       what="the webhook endpoint to hear of every outcome")
        return self.missing()

    def leaked(self, secrets: Iterable[str]) -> list[str]:
        with self.lock:
            text = b"\n".join(self.bodies).decode("utf-8", "replace")
        return [f"{s[:3]}..." for s in secrets if s and len(s) >= 8 and s in text]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["HookWatch"]
