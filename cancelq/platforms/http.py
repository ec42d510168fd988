"""The one place where ``requests`` meets the platform layer.

Transport failures become ``PlatformError``s here, once, with ``raise ... from``.
Only failures that prove the request never reached the platform (connection
refused, DNS, connect timeout) are retried, briefly, with tenacity: anything
after the request was sent may have been applied, so it is left to the caller
with ``check_status=True``.

Every request runs against a total deadline (``Timeouts.total_s``: connect,
send and the whole answer), however the platform paces its bytes; see
``transport.py``. Answers are read in pieces, at most ``MAX_BODY_BYTES`` of them,
and parsed within ``bodies.MAX_JSON_DEPTH``.
"""

from __future__ import annotations

import codecs
import copy
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from .base import Throttle
from .bodies import MAX_BODY_BYTES, UnreadableBody, read_json
from .errors import PermanentError, TransientError
from .transport import Budget, DeadlineAdapter

SNIPPET_CHARS = 200
CHUNK_BYTES = 64 * 1024
DEADLINE_SLACK_S = 0.005
"""A socket wait capped to the deadline may return this much before it: still the deadline."""


@dataclass(frozen=True)
class Timeouts:
    """``connect_s`` and ``read_s`` bound one socket wait each; ``total_s`` bounds the whole exchange."""

    connect_s: float = 3.05
    read_s: float = 15.0
    total_s: float = 30.0

    def __post_init__(self) -> None:
        if not all(value > 0 for value in (self.connect_s, self.read_s, self.total_s)):
            raise ValueError(f"timeouts must be positive, got {self}")

    def budget(self) -> Budget:
        """The urllib3 timeout of one request starting now."""
        return Budget(connect_s=self.connect_s, read_s=self.read_s, deadline=time.monotonic() + self.total_s)


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
        if proxies or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        host = (parts.scheme, parts.netloc)
        if host not in self._environment:
            self._environment[host] = super().merge_environment_settings(url, proxies, None, verify, cert)
        settings = dict(self._environment[host])
        if stream is not None:
            settings["stream"] = stream
        return settings


def new_session(pool_maxsize: int = 64) -> requests.Session:
    """A pooled session; one per process is enough for every adapter. Its answers honour ``total_s`` strictly."""
    session = _Session()
    adapter = DeadlineAdapter(pool_connections=16, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_QUERY = re.compile(r"\?[^\s'\")]+")


class TransportFailure(Exception):
    """The transport's own exception, retold without URLs' query strings or secrets."""


class _NotSent(Exception):
    """The request provably never left: safe to send again."""


class _PastDeadline(Exception):
    """The answer was still coming when the total deadline passed."""


@dataclass(frozen=True)
class _Answer:
    response: requests.Response
    content: bytes
    too_large: bool = False


@dataclass
class HttpClient:
    """Sends one platform's requests; knows its secrets so that no message can carry them."""

    platform: str
    session: requests.Session
    timeouts: Timeouts = field(default_factory=Timeouts)
    throttle: Throttle | None = None
    secrets: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES

    def with_throttle(self, throttle: Throttle | None) -> HttpClient:
        """The same client (session, secrets, timeouts) calling ``throttle`` before each request."""
        clone = copy.copy(self)  # not dataclasses.replace: it runs __init__ again, per job
        clone.throttle = throttle
        return clone

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
        budget = self.timeouts.budget()
        try:
            answer = self._exchange(budget, method, url, params=params, data=data, body=body, headers=headers)
        except _NotSent as exc:
            raise TransientError(
                "could not reach the platform (the request was not sent)",
                platform=self.platform, step=step, code="connect_failed",
            ) from self.cause(exc.__cause__ or exc)
        except (_PastDeadline, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise self._timeout(exc, budget, step=step) from self.cause(exc)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(
                f"connection lost after sending: {type(exc).__name__}",
                platform=self.platform, step=step, code="connection_lost", check_status=True,
            ) from self.cause(exc)
        return self._reply(answer)

    def _timeout(self, exc: Exception, budget: Budget, *, step: str) -> TransientError:
        if isinstance(exc, _PastDeadline) or budget.left_s() <= DEADLINE_SLACK_S:
            return TransientError(
                f"no complete answer within the total deadline of {self.timeouts.total_s:g}s: the request may "
                "have been applied", platform=self.platform, step=step, code="deadline", check_status=True,
            )
        return TransientError(
            "no answer within the read timeout: the request may have been applied",
            platform=self.platform, step=step, code="timeout", check_status=True,
        )

    def _exchange(self, budget: Budget, method: str, url: str, **kwargs: Any) -> _Answer:
        response = self._send(budget, method, url, **kwargs)
        try:
            content, too_large = self._content(response, budget)
        except BaseException:
            response.close()
            raise
        return _Answer(response, content, too_large)

    @retry(
        retry=retry_if_exception_type(_NotSent),
        stop=stop_after_attempt(3),
        wait=wait_random(0.05, 0.25),
        reraise=True,
    )
    def _send(
        self,
        budget: Budget,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        body: str | bytes | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        try:
            return self.session.request(  # requests hands a urllib3 Timeout to urllib3 as it is
                method, url, params=params, data=data if body is None else body,
                headers=headers, timeout=budget, allow_redirects=False, stream=True,  # type: ignore[arg-type]
            )
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
            raise _NotSent() from exc
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise _NotSent() from exc
            raise

    def _content(self, response: requests.Response, budget: Budget) -> tuple[bytes, bool]:
        """The body, read piece by piece against the deadline; True when it was cut at ``max_body_bytes``."""
        raw = response.raw
        parts: list[bytes] = []
        size = 0
        while chunk := raw.read1(CHUNK_BYTES, decode_content=True):
            size += len(chunk)
            if size > self.max_body_bytes:
                response.close()
                return b"".join(parts), True
            parts.append(chunk)
            if budget.left_s() <= 0:
                raise _PastDeadline()
        raw.release_conn()
        return b"".join(parts), False

    def _reply(self, answer: _Answer) -> Reply:
        response = answer.response
        text = answer.content.decode(_encoding(response), errors="replace")
        snippet = self.scrub(text[:SNIPPET_CHARS])
        body, error = None, None
        if answer.too_large:
            error = f"answer larger than {self.max_body_bytes} bytes ({_describe(text, response)})"
        elif not text:
            error = "empty body"
        else:
            try:
                body = read_json(text)
            except UnreadableBody as exc:
                error = f"not JSON ({_describe(text, response)}): {exc}"
        return Reply(response.status_code, response.headers, body, error, snippet)

    def scrub(self, text: str) -> str:
        """Remove every known secret and every query string (signed URLs carry tokens and signs)."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return _QUERY.sub("?<redacted>", text)

    def cause(self, exc: BaseException) -> TransportFailure:
        return TransportFailure(f"{type(exc).__name__}: {self.scrub(str(exc))}")

    def unparsed(
        self, reply: Reply, *, step: str, request_id: str | None = None, write: bool = False,
    ) -> TransientError | PermanentError:
        """The error for an answer whose body could not be read.

        To a write, no unreadable answer is a clean refusal: a proxy's page or a
        cut body may hide an applied write, so the order's status is read first.
        To a read, a 4xx page is a client problem; anything else (a 2xx cut
        short, a 5xx page from a proxy) is passing.
        """
        message = reply.body_error or "unreadable body"
        if not write and 400 <= reply.status < 500 and reply.status not in (408, 429):
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


def _encoding(response: requests.Response) -> str:
    """The answer's charset; JSON without one is UTF-8 (``requests`` would guess, slowly)."""
    encoding = response.encoding or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        return "utf-8"
    return encoding


def _describe(text: str, response: requests.Response) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    if text.lstrip()[:1] == "<":
        return f"HTML page, {content_type}"
    return f"{len(text)} bytes, {content_type}"


def secrets_of(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
