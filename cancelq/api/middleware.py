"""The outermost layer of every request (plain ASGI, cheaper than Starlette's BaseHTTPMiddleware).

- a request id: the caller's ``X-Request-Id`` when it is a short token, else a new one; on every answer and
  every access-log line;
- a bound body: a ``Content-Length`` above the limit is answered 413 before anything is read, and a body sent
  without one is cut off with 413 as it passes the limit (campaign uploads have their own, larger limit);
- one access-log line per request: method, path (never the query), status, milliseconds, the key's name.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from cancelq.api.problems import MEDIA_TYPE, TITLES, TYPE_BASE, Problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UPLOAD_PATHS = ("/v1/campaigns",)
log = structlog.get_logger("cancelq.api")


class TooLarge(Problem):
    """A body that passed its limit while being read: the Problem handler answers it 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "too-large", f"the request body is larger than {limit} bytes")


class Edge:
    """Request id, body limit and access log around the app."""

    def __init__(self, app: App, *, body_limit: int, upload_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = [500]
        limit = self.upload_limit if scope["path"] in UPLOAD_PATHS else self.body_limit

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if _declared_length(scope) > limit:
                await _too_large(send_with_id, scope, request_id, limit)
            else:
                await self.app(scope, _bounded(receive, limit), send_with_id)
        except TooLarge:
            await _too_large(send_with_id, scope, request_id, limit)
        finally:
            log.info("api_request", request_id=request_id, method=scope["method"], path=scope["path"],
                     status=status[0], ms=round((time.perf_counter() - started) * 1000, 2),
                     key=state.get("key_name", ""))


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return secrets.token_hex(12)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = [0]

    async def bounded() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise TooLarge(limit)
        return message

    return bounded


async def _too_large(send: Send, scope: Scope, request_id: str, limit: int) -> None:
    body = json.dumps({"type": TYPE_BASE + "too-large", "title": TITLES[413], "status": 413,
                       "detail": f"the request body is larger than {limit} bytes", "instance": scope["path"],
                       "request_id": request_id}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
