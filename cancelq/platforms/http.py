"""The one place where ``requests`` meets the platform layer.

Transport failures become ``PlatformError``s here, once, with ``raise ... from``.
Only failures that prove the request never reached the platform (connection
refused, DNS, connect timeout) are retried, briefly, with tenacity: anything
after the request was sent may have been applied, so it is left to the caller
with ``check_status=True``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from .base import Throttle
from .errors import PermanentError, TransientError

SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 3.05
    read_s: float = 15.0

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect_s, self.read_s)


@dataclass(frozen=True)
class Reply:
    """A platform's HTTP answer. ``body`` is None when it was not JSON (see ``body_error``)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    body_error: str | None = None
    snippet: str = ""


class _Session(requests.Session):
    """Reads proxy and CA settings from the environment once per host, not on every request.

    ``requests`` scans ``os.environ`` for proxies on each call, which costs more CPU than
    the rest of a small signed request; the environment of a running worker does not change.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        if proxies or verify is not None or cert is not None or stream is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        host = (parts.scheme, parts.netloc)
        if host not in self._environment:
            self._environment[host] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return dict(self._environment[host])


def new_session(pool_maxsize: int = 64) -> requests.Session:
    """A pooled session; one per process is enough for every adapter."""
    session = _Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_QUERY = re.compile(r"\?[^\s'\")]+")


class TransportFailure(Exception):
    """The transport's own exception, retold without URLs' query strings or secrets."""


class _NotSent(Exception):
    """The request provably never left: safe to send again."""


@dataclass
class HttpClient:
    """Sends one platform's requests; knows its secrets so that no message can carry them."""

    platform: str
    session: requests.Session
    timeouts: Timeouts = field(default_factory=Timeouts)
    throttle: Throttle | None = None
    secrets: tuple[str, ...] = ()

    def request(
        self,
        method: str,
        url: str,
        *,
        step: str,
        api: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        if self.throttle is not None:
            self.throttle(api)
        try:
            response = self._send(method, url, params=params, data=data, body=body, headers=headers)
        except _NotSent as exc:
            raise TransientError(
                "could not reach the platform (the request was not sent)",
                platform=self.platform, step=step, code="connect_failed",
            ) from self.cause(exc.__cause__ or exc)
        except requests.Timeout as exc:
            raise TransientError(
                "no answer within the read timeout: the request may have been applied",
                platform=self.platform, step=step, code="timeout", check_status=True,
            ) from self.cause(exc)
        except requests.RequestException as exc:
            raise TransientError(
                f"connection lost after sending: {type(exc).__name__}",
                platform=self.platform, step=step, code="connection_lost", check_status=True,
            ) from self.cause(exc)
        return self._reply(response)

    @retry(
        retry=retry_if_exception_type(_NotSent),
        stop=stop_after_attempt(3),
        wait=wait_random(0.05, 0.25),
        reraise=True,
    )
    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        body: str | bytes | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        try:
            return self.session.request(
                method, url, params=params, data=data if body is None else body,
                headers=headers, timeout=self.timeouts.as_tuple(), allow_redirects=False,
            )
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
            raise _NotSent() from exc
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise _NotSent() from exc
            raise

    def _reply(self, response: requests.Response) -> Reply:
        text = response.text
        snippet = self.scrub(text[:SNIPPET_CHARS])
        try:
            body = json.loads(text) if text else None
            error = None if text else "empty body"
        except json.JSONDecodeError as exc:
            body, error = None, f"not JSON ({_describe(text, response)}): {exc.msg}"
        return Reply(response.status_code, response.headers, body, error, snippet)

    def scrub(self, text: str) -> str:
        """Remove every known secret and every query string (signed URLs carry tokens and signs)."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return _QUERY.sub("?<redacted>", text)

    def cause(self, exc: BaseException) -> TransportFailure:
        return TransportFailure(f"{type(exc).__name__}: {self.scrub(str(exc))}")

    def unparsed(self, reply: Reply, *, step: str, request_id: str | None = None) -> TransientError | PermanentError:
        """The error for an answer whose body could not be read.

        A 4xx with an HTML page is a client problem; anything else (a 2xx cut
        short, a 5xx page from a proxy) leaves the write's fate unknown.
        """
        message = reply.body_error or "unreadable body"
        if 400 <= reply.status < 500 and reply.status not in (408, 429):
            return PermanentError(
                message, platform=self.platform, step=step, http_status=reply.status,
                code="invalid_body", request_id=request_id,
            )
        return TransientError(
            message, platform=self.platform, step=step, http_status=reply.status,
            code="invalid_body", request_id=request_id, check_status=True,
        )


def _never_sent(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "NameResolutionError", "Connection refused",
                                   "Failed to resolve", "ConnectTimeoutError"))


def _describe(text: str, response: requests.Response) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    if text.lstrip()[:1] == "<":
        return f"HTML page, {content_type}"
    return f"{len(text)} bytes, {content_type}"


def secrets_of(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
