"""A real webhook receiver on loopback that verifies every signature with the ``standardwebhooks`` library."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cancelq.core import keys
from cancelq.delivery.dispatch import GROUP
from cancelq.runtime import Runtime


def settled(rt: Runtime) -> bool:
    """Nothing left to send: every event dispatched and acknowledged, no delivery queued or claimed."""
    groups: Any = rt.redis.xinfo_groups(keys.EVENTS)
    group = next((g for g in groups if g["name"] == GROUP), None)
    return bool(group and group["pending"] == 0 and group["lag"] == 0 and not rt.redis.zcard(keys.WEBHOOK_DUE)
                and not rt.redis.zcard(keys.WEBHOOK_CLAIMED))


class Receiver:
    """Accepts POSTs signed with one of ``secrets``; answers ``status`` (after ``fail_first`` answers of
    ``fail_status`` per webhook-id); with ``hold`` set, holds each request until ``release()``."""

    def __init__(self, *, path: str = "/hooks/in?token=s3cr3t-url-token") -> None:
        self.secrets: list[str] = []
        self.status = 204
        self.fail_first = 0
        self.fail_status = 500
        self.retry_after: str | None = None
        self.hold = False
        self.released = threading.Event()
        self.received: list[dict[str, Any]] = []
        """Verified deliveries: {"id": webhook-id, "body": the event, "headers": ...}."""
        self.refused: list[str] = []
        self.arrived = 0
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answer(body, {k: v for k, v in self.headers.items()})
                self.send_response(status)
                if status == 429 and receiver.retry_after:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.arrived += 1
        if self.hold:
            self.released.wait(60)
        webhook_id = headers.get("webhook-id", "")
        verified = None
        for secret in self.secrets:
            try:
                verified = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        with self.lock:
            if verified is None:
                self.refused.append(webhook_id)
                return 401
            self.attempts[webhook_id] += 1
            if self.attempts[webhook_id] <= self.fail_first:
                return self.fail_status
            self.received.append({"id": webhook_id, "body": verified, "headers": headers})
            return self.status

    def ids(self) -> list[str]:
        with self.lock:
            return [r["id"] for r in self.received]

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received]

    def release(self) -> None:
        self.hold = False
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def dump(self) -> str:
        return json.dumps(self.received)
