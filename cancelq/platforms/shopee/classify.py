"""Shopee's error answers mapped to our error classes (platforms.md 1.3-1.5).

Errors live in the JSON body whatever the HTTP status (Shopee documents none):
``classify`` is the one mapping of (status, code, message, body) to our errors.
A code it does not know is, to a write, no clean refusal: the order's status is
read before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ..errors import (
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from ..http import Reply

PLATFORM = "shopee"
QUOTA_TZ = timezone(timedelta(hours=8))
"""Shopee's daily API quota resets at 00:00 UTC+8."""

STATE_CONFLICT_NAMES = frozenset({"cancel_order_invalid_status", "order_status_invalid"})
AUTH_EXPIRED_NAMES = frozenset({"invalid_acceess_token", "invalid_access_token"})  # sic: Shopee's own typo
REAUTH_NAMES = frozenset({
    "refresh_token_expired", "shop_access_expired", "error_shop_refresh_token", "shop_no_linked",
    "partner_shop_no_link",
})
PERMANENT_NAMES = frozenset({
    "error_param", "error_not_found", "error_data", "error_shop", "error_permission",
    "error_api_permission", "error_api_call_restricted", "api_suspended", "error_kyc_auth",
    "error_ashop_api_permission", "cancel_forder_failed",
})
CONFIG_NAMES: dict[str, str] = {
    "error_sign": "app", "error_partner_key_expired": "app", "invalid_partner_id": "app",
    "source_ip_undeclared": "app", "shop_banned": "shop",
}
"""Codes that no job can get past: the partner key or the app's declared IPs are wrong (every shop of the
partner), or the shop is banned."""
CLOCK_MESSAGES = ("invalid timestamp", "timestamp is expired")
"""``error_param`` with these messages: our timestamp is outside Shopee's 5-minute window (this worker's clock)."""
COMMON_MODULES = frozenset({"", "common"})


def normalise_code(code: str | None) -> str:
    """Shopee's docs print ``"order. error_param"`` and ``"common.error_auth"``: strip spaces, keep the module."""
    return "".join((code or "").split()).lower()


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next 00:00 in UTC+8, in UTC."""
    local = (now or datetime.now(UTC)).astimezone(QUOTA_TZ)
    midnight = datetime(local.year, local.month, local.day, tzinfo=QUOTA_TZ) + timedelta(days=1)
    return midnight.astimezone(UTC)


def classify(
    *,
    http_status: int,
    code: str | None,
    message: str,
    body: Mapping[str, Any] | None = None,
    step: str | None = None,
    retry_after_s: float | None = None,
    now: datetime | None = None,
    write: bool = False,
) -> PlatformError:
    """The one mapping of a Shopee error answer to our error classes (platforms.md 1.3-1.5)."""
    norm = normalise_code(code)
    module, _, name = norm.rpartition(".")
    kw = _fields(http_status, norm, body, step)
    text = message or norm or f"HTTP {http_status}"
    if name in STATE_CONFLICT_NAMES or (name == "error_limit" and module not in COMMON_MODULES):
        return PermanentError(text, check_status=True, **kw)
    if name == "error_limit":
        return QuotaExhausted(text, retry_at=next_quota_reset(now), **kw)
    if name == "error_rate_limit":
        return RateLimited(text, retry_after_s=retry_after_s, **kw)
    if name in ("error_server", "error_network"):
        return TransientError(text, check_status=True, **kw)
    if name == "error_auth":
        return _auth_error(text, kw)
    if name in AUTH_EXPIRED_NAMES:
        return AuthExpired(text, **kw)
    if name in REAUTH_NAMES:
        return ReauthRequired(text, **kw)
    if name in CONFIG_NAMES:
        return ConfigError(text, scope=CONFIG_NAMES[name], **kw)
    if name == "error_param":
        return _param_error(text, kw)
    if name in PERMANENT_NAMES:
        return PermanentError(text, **kw)
    return _unknown(text, http_status, retry_after_s, kw, write=write)


def _fields(http_status: int, norm: str, body: Mapping[str, Any] | None, step: str | None) -> dict[str, Any]:
    rid = body.get("request_id") if body else None
    return {"platform": PLATFORM, "step": step, "http_status": http_status, "code": norm or None,
            "request_id": str(rid) if rid else None}


def _param_error(text: str, kw: dict[str, Any]) -> PlatformError:
    """``error_param``: our clock, when the message says the timestamp is off; else a bad request (a status
    in the message: the order moved on, read it)."""
    folded = text.casefold()
    if any(m in folded for m in CLOCK_MESSAGES):
        return ConfigError(text, scope="clock", **kw)
    return PermanentError(text, check_status="status" in folded, **kw)


def _auth_error(message: str, kw: dict[str, Any]) -> PlatformError:
    # One code, four meanings: only the message tells a gateway hiccup from a dead token or an unlinked shop.
    text = message.casefold()
    if "system error" in text:
        return TransientError(message, **kw)
    if "partner_id or shopid" in text:
        return ReauthRequired(message, **kw)
    if "access_token" in text or "access token" in text:
        return AuthExpired(message, **kw)
    return PermanentError(message, **kw)


def _unknown(
    message: str, http_status: int, retry_after_s: float | None, kw: dict[str, Any], *, write: bool,
) -> PlatformError:
    if http_status == 429:
        return RateLimited(message, retry_after_s=retry_after_s, check_status=write, **kw)
    if http_status >= 500 or http_status == 408 or write:
        return TransientError(message, check_status=True, **kw)
    return PermanentError(message, **kw)


def retry_after_header(reply: Reply) -> float | None:
    try:
        return float(reply.headers.get("Retry-After", ""))
    except ValueError:
        return None
