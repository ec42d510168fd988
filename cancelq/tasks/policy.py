"""The one place that maps an error to what happens next.

::

    AlreadyCancelled  -> finish: already_cancelled
    RateLimited       -> wait its retry-after (+ jitter); no attempt used
    QuotaExhausted    -> wait until the quota resets; no attempt used
    TransientError    -> wait exponential backoff with full jitter; an attempt used;
                         past max_attempts or max_age: dead, kind "exhausted"
    AuthExpired       -> refresh the token and retry at once, once; then as ReauthRequired
    ReauthRequired    -> wait auth_wait_s (the shop is parked, not dead)
    PermanentError    -> dead, kind "permanent"; "rejected" when the job itself is at fault
    anything else     -> a bug of ours: treated as transient, so it ends dead as exhausted, never lost
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from cancelq.core.settings import Settings
from cancelq.platforms.errors import (
    AlreadyCancelled,
    AuthExpired,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)

REJECT_CODES = frozenset({
    "unmappable_reason", "invalid_request", "missing_items", "invalid_items", "items_unsupported",
    "partial_cancel_unsupported", "invalid_option",
})
"""Permanent errors that mean the job was malformed, found before any write."""


@dataclass(frozen=True)
class Decision:
    """``action``: finish, wait, refresh, dead or reject."""

    action: str
    delay_s: float = 0.0
    counts_attempt: bool = False
    kind: str = ""
    why: str = ""


def decide(
    error: BaseException,
    *,
    attempts: int,
    age_s: float,
    refreshed: bool,
    settings: Settings,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """``attempts`` counts the failed attempts before this one; ``refreshed``: a refresh was already tried."""
    rng = rng or random.Random()
    if isinstance(error, AlreadyCancelled):
        return Decision("finish", why="already_cancelled")
    if isinstance(error, RateLimited):
        base = error.retry_after_s if error.retry_after_s is not None else settings.default_rate_limit_wait_s
        return Decision("wait", delay_s=base + rng.uniform(0, settings.rate_limit_jitter_s), why="rate_limited")
    if isinstance(error, QuotaExhausted):
        now = now or datetime.now(UTC)
        delay = max(0.0, (error.retry_at - now).total_seconds())
        return Decision("wait", delay_s=delay + rng.uniform(0, 60), why="quota_exhausted")
    if isinstance(error, AuthExpired) and not refreshed:
        return Decision("refresh", why="auth_expired")
    if isinstance(error, AuthExpired | ReauthRequired):
        return Decision("wait", delay_s=settings.auth_wait_s, why="needs_reauth")
    if isinstance(error, PermanentError):
        if error.code in REJECT_CODES:
            return Decision("reject", why=error.message)
        return Decision("dead", kind="permanent", why=error.message)
    return _transient(error, attempts=attempts, age_s=age_s, settings=settings, rng=rng)


def _transient(error: BaseException, *, attempts: int, age_s: float, settings: Settings,
               rng: random.Random) -> Decision:
    why = "transient" if isinstance(error, TransientError) else f"unexpected {type(error).__name__}"
    if attempts + 1 >= settings.max_attempts or age_s >= settings.max_age_s:
        return Decision("dead", kind="exhausted", counts_attempt=True, why=why)
    return Decision("wait", delay_s=backoff_s(attempts, settings, rng), counts_attempt=True, why=why)


def backoff_s(attempts: int, settings: Settings, rng: random.Random) -> float:
    """Full jitter: uniform over [0, min(cap, base * 2**attempts)] (AWS architecture blog's recommendation)."""
    ceiling = min(settings.retry_cap_s, settings.retry_base_s * (2 ** min(attempts, 30)))
    return rng.uniform(0, ceiling)
