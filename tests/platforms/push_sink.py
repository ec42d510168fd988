"""A loopback HTTP server that takes the sandbox's pushes: keeps each request, fails the first ``fail_first``
attempts of each body with ``fail_status``, and can hold requests until released."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PushSink:
    def __init__(self, *, fail_first: int = 0, fail_status: int = 500) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.hold = threading.Event()
        self.hold.set()
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[bytes, int] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pushes"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = sink.take(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        self.hold.wait(30)
        with self.lock:
            self.attempts[body] = self.attempts.get(body, 0) + 1
            if self.attempts[body] <= self.fail_first:
                return self.fail_status
            self.received.append({"body": body, "headers": headers})
            return 200

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r["body"] for r in self.received]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
