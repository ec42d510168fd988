"""What the two Shopify-like REST APIs (Shopline, Shoplazza) share.

Both signal errors mainly through the HTTP status, with a JSON body in one of a
few shapes: ``{"errors": "..."}``, ``{"errors": [...]}``, ``{"errors": {field:
[messages]}}``, ``{"error": "..."}``, ``{"code", "message", "errors"}`` (Shopline's
SDK) or the ``{"code", "message"}`` envelope (Shoplazza 2025-06). Each platform
keeps its own ``classify`` (status -> class); this module reads the bodies and
the ``Retry-After`` header and builds the error from the verdict.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from .errors import ConfigError, PlatformError, RateLimited
from .http import Reply

STATUS_NAMES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    412: "precondition_failed",
    422: "unprocessable_entity",
    423: "locked",
    429: "too_many_requests",
    500: "internal_server_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def status_name(http_status: int) -> str:
    """Our code for an answer whose body named none: ``not_found``, ``http_418``..."""
    return STATUS_NAMES.get(http_status, f"http_{http_status}")


@dataclass(frozen=True)
class Verdict:
    """How to treat an answer: the error class, our code for it, and whether the order must be read first;
    ``scope``: what a ``ConfigError`` implicates."""

    error: type[PlatformError]
    code: str
    check_status: bool = False
    scope: str = ""


class Classifier(Protocol):
    def __call__(
        self, http_status: int, code: str | None, message: str, body: Any = None, *, writes: bool = False
    ) -> Verdict: ...


def error_detail(body: Any) -> tuple[str | None, str]:
    """The platform's own code (if any) and a readable message from any of the error shapes."""
    if not isinstance(body, Mapping):
        return None, ""
    raw_code = body.get("code")
    code = str(raw_code) if raw_code not in (None, "") else None
    parts: list[str] = []
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    parts.extend(_errors_text(body.get("errors")))
    return code, "; ".join(dict.fromkeys(parts))


def _errors_text(errors: Any) -> list[str]:
    if isinstance(errors, str):
        return [errors] if errors else []
    if isinstance(errors, list):
        return [str(e) for e in errors]
    if isinstance(errors, Mapping):
        lines = []
        for field, value in sorted(errors.items(), key=lambda kv: str(kv[0])):
            for message in value if isinstance(value, list) else [value]:
                lines.append(f"{field}: {message}")
        return lines
    return []


def retry_after_s(headers: Mapping[str, str], now_s: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def reply_error(
    reply: Reply,
    *,
    classify: Classifier,
    platform: str,
    step: str,
    writes: bool,
    request_id: str | None,
    scrub: Callable[[str], str],
) -> PlatformError:
    """The error for a non-success answer, classified by the platform's own ``classify``."""
    code, message = error_detail(reply.body)
    if not message:
        message = reply.body_error or reply.snippet or status_name(reply.status)
    verdict = classify(reply.status, code, message, reply.body, writes=writes)
    fields: dict[str, Any] = {
        "platform": platform, "step": step, "http_status": reply.status, "code": verdict.code,
        "request_id": request_id, "check_status": verdict.check_status,
    }
    if issubclass(verdict.error, RateLimited):
        return verdict.error(scrub(message), retry_after_s=retry_after_s(reply.headers), **fields)
    if issubclass(verdict.error, ConfigError):
        return verdict.error(scrub(message), scope=verdict.scope, **fields)
    return verdict.error(scrub(message), **fields)
