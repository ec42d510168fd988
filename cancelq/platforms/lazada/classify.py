"""Lazada's error answers mapped to our error classes, by the body's code first, whatever the HTTP status.

Lazada answers errors in the body (``code != "0"``), usually with HTTP 200, and
create can answer ``code "0"`` with ``data.tip_type "error"``: that is a refusal
too. A code this table does not know is, to a write, no clean refusal: the
order's status is read before anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import (
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)

PLATFORM = "lazada"
TIP_CHARS = 500

RATE_LIMIT_CODES = frozenset({"ApiCallLimit", "901", "HOT_KEY_BLOCK_EXCEPTION"})
APP_LIMIT_CODES = frozenset({"AppCallLimit"})
TRANSIENT_CODES = frozenset({
    "6", "106", "4136", "4137", "SYSTEM_BUSY", "SYSTEM_TIMEOUT", "ServiceTimeout", "UnknownRuntimeException",
    "SYSTEM_ERROR", "BIZ_DEGRADATION_ERROR",
})
AUTH_EXPIRED_CODES = frozenset({"IllegalAccessToken"})
REAUTH_CODES = frozenset({"IllegalRefreshToken", "AUTH_TYPE_UNSUPPORTED", "InvalidCode", "AppNotSubscribed"})
CONFIG_CODES: dict[str, str] = {
    "IncompleteSignature": "app", "InvalidAppKey": "app", "APP_KEY_INVALID": "app", "InvalidTimestamp": "clock",
    "SellerNotActive": "shop",
}
"""Codes no job gets past: the app key or secret is wrong (every shop of the app), this worker's clock is outside
Lazada's 7200 s window, or the seller's account is inactive."""
PERMANENT_CODES = frozenset({
    "MissingParameter", "InvalidApi", "InvalidApiPath", "InvalidSignMethod",
    "102", "104", "115", "116", "117", "118", "122", "124", "16", "131",
    "SellerNotVerified",
})
STATE_CONFLICT_CODES = frozenset({"123", "105"})
"""E0123 "invalid trade order lines": what a second create of cancelled lines answers (probably); E0105
"reverse order id is empty or invalid": a decision on a buyer's request no longer awaiting one."""

DEFAULT_BAN_S = 1.0
APP_LIMIT_RETRY_S = 300.0
_BAN = re.compile(r"ban will last (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
_E_CODE = re.compile(r"^E0*(\d+)$")


def normalise_code(code: object) -> str:
    """``E0123`` and ``123`` are the same error (the doc lists both forms)."""
    text = str(code).strip()
    match = _E_CODE.match(text)
    return match.group(1) if match else text


def ban_seconds(message: str) -> float | None:
    """The N of "this ban will last N seconds"; waiting the extra second is the caller's business."""
    match = _BAN.search(message)
    return float(match.group(1)) if match else None


def classify(
    http_status: int,
    body: Mapping[str, Any],
    *,
    step: str,
    write: bool = False,
    scrub: Callable[[str], str] = str,
) -> PlatformError:
    """The error for a Lazada answer that is not a success: by body code first, whatever the HTTP status."""
    raw_code = str(body.get("code", ""))
    message = scrub(str(body.get("message") or raw_code or f"HTTP {http_status}"))
    common: dict[str, Any] = {
        "platform": PLATFORM, "step": step, "http_status": http_status, "code": raw_code,
        "request_id": request_id(body),
    }
    code = normalise_code(raw_code)
    if code == "0" and tip_type(body) == "error":
        tip = scrub(tip_content(body)) or "no tip_content"
        common["code"] = "tip_type_error"
        return PermanentError(f"Lazada refused the cancel: {tip}", check_status=True, **common)
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, retry_after_s=ban_seconds(message) or DEFAULT_BAN_S, **common)
    if code in APP_LIMIT_CODES:
        return RateLimited(message, retry_after_s=ban_seconds(message) or APP_LIMIT_RETRY_S, **common)
    if code in AUTH_EXPIRED_CODES:
        return AuthExpired(message, **common)
    if code in REAUTH_CODES:
        return ReauthRequired(message, **common)
    return _by_kind(code, message, http_status, body, write=write, common=common)


def _by_kind(
    code: str, message: str, http_status: int, body: Mapping[str, Any], *, write: bool, common: dict[str, Any],
) -> PlatformError:
    if code in CONFIG_CODES:
        return ConfigError(message, scope=CONFIG_CODES[code], **common)
    if code in STATE_CONFLICT_CODES:
        return PermanentError(message, check_status=True, **common)
    if code in PERMANENT_CODES:
        return PermanentError(message, **common)
    if code in TRANSIENT_CODES or body.get("type") == "ISP" or http_status >= 500:
        return TransientError(message, check_status=write, **common)
    if http_status == 429:
        return RateLimited(message, retry_after_s=None, **common)
    # An unknown code is no documented refusal: to a write, it may hide an applied cancel.
    if write:
        return TransientError(message, check_status=True, **common)
    return PermanentError(message, **common)


def request_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("request_id")
    return str(value) if value else None


def data_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    data = body.get("data")
    return data if isinstance(data, Mapping) else {}


def tip_type(body: Mapping[str, Any]) -> str:
    return str(data_of(body).get("tip_type") or "")


def tip_content(body: Mapping[str, Any]) -> str:
    return str(data_of(body).get("tip_content") or "")[:TIP_CHARS]
