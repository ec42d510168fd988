"""The one place that decides what happens next, for every error and signal a delivery meets.

::

    LeaseLost         -> stop: another delivery holds the job now; write nothing
    BeginFirst        -> begin: the job was not fresh, run it from the ledger's record
    Aborted           -> finish: aborted (its campaign was aborted before the write went)
    a write's answer is unknown (timeout, dropped connection, 5xx, garbled body after a write was sent)
                      -> reconcile: read the order first (``after_read`` says what that read means)
    Deferred          -> defer: wait for the gate (limit, cooldown, circuit, pause); no attempt used
    AlreadyCancelled  -> finish: already_cancelled (``refused`` when it answered our write, else ``before_us``)
    RateLimited       -> wait its retry-after (+ jitter) and cool the scope down for every worker; no attempt
    QuotaExhausted    -> wait until the quota resets; no attempt used
    TransientError    -> wait exponential backoff with full jitter; an attempt used; the circuit counts it;
                         past max_attempts or max_age: dead, kind "exhausted"
    AuthExpired       -> refresh the token and retry at once, once; then as ReauthRequired
    ReauthRequired    -> wait auth_wait_s (the shop is parked, not dead)
    ConfigError       -> park: its scope (app, shop, this worker's clock) is parked with one alert; the job waits
                         config_recheck_s without using an attempt, until an operator fixes the setting
    PermanentError    -> dead, kind "permanent"; "rejected" when the job itself is at fault
    anything else     -> a bug of ours: treated as transient, so it ends dead as exhausted, never lost

``decide`` is a pure function of the error and the ``Context`` the task describes; the task carries out
the ``Decision``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cancelq.core.settings import Settings
from cancelq.gate.delivery import Aborted, BeginFirst, Deferred, LeaseLost
from cancelq.jobs.states import JobState
from cancelq.platforms.base import OrderState, OrderStatus
from cancelq.platforms.errors import (
    AlreadyCancelled,
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
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

CONFIRMED, INFERRED, BEFORE_US, REFUSED = "confirmed", "inferred", "before_us", "refused"
"""On what a cancelled outcome rests: our write accepted; our write unanswered and the order read cancelled
afterwards; the order cancelled before we wrote; the platform answered our write without cancelling."""


OUR_CANCELLERS = frozenset({"seller", "buyer"})
"""Who a platform names as the canceller when the cancel may be ours (Shopee ``cancel_by``: "seller" for our
cancel_order, "buyer" when we accepted the buyer's own request); "system" or "ops" never are."""
CLOCK_MARGIN_S = 2.0


@dataclass(frozen=True)
class Context:
    """Where the error met the job.

    ``writing``: it was raised in a write step, after ``sent`` of that step's calls left. ``unresolved``: a
    write of this job may have been applied and no read has said yet whether it was (a reconcile read failed).
    """

    writing: bool = False
    sent: int = 0
    unresolved: bool = False


@dataclass(frozen=True)
class Decision:
    """``action``: stop, begin, finish, reconcile, defer, wait, park, refresh, dead, reject or restart.

    ``park``: a configuration fault; ``kind`` is the scope it implicates (app, shop or clock).

    ``keep_inflight``: the write's mark stays on the job, so the next delivery reads the order before writing.
    ``refused``: the platform answered this job's write without cancelling (kept, for attribution).
    ``cool_down_s``: hold the call's limit scope for every worker; ``circuit``: count a failure on the shop's
    circuit (``store_locked``: open it at once)."""

    action: str
    delay_s: float = 0.0
    counts_attempt: bool = False
    kind: str = ""
    why: str = ""
    state: str = ""
    attribution: str = ""
    keep_inflight: bool = False
    refused: bool = False
    cool_down_s: float | None = None
    circuit: bool = False
    store_locked: bool = False


def decide(
    error: BaseException,
    *,
    attempts: int,
    age_s: float,
    refreshed: bool,
    settings: Settings,
    context: Context = Context(),
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """``attempts`` counts the failed attempts before this one; ``refreshed``: a refresh was already tried."""
    rng = rng or random.Random()
    signal = _signal(error, context, rng)
    if signal is not None:
        return signal
    sent_write = context.writing and context.sent > 0
    if sent_write and isinstance(error, PlatformError) and error.check_status:
        return Decision("reconcile", why=error.code or "check_status", keep_inflight=True)
    if isinstance(error, AlreadyCancelled):
        return Decision("finish", state=JobState.ALREADY_CANCELLED, why="already_cancelled",
                        attribution=REFUSED if sent_write else BEFORE_US)
    decision = _platform(error, attempts=attempts, age_s=age_s, refreshed=refreshed, settings=settings, now=now,
                         rng=rng)
    # A bug of ours that met a write's answer leaves the write's fate unknown, like a timeout.
    unknown = context.unresolved or (sent_write and not isinstance(error, PlatformError))
    refused = sent_write and isinstance(error, PermanentError) and not isinstance(error, ConfigError)
    return replace(decision, keep_inflight=unknown, refused=refused)


def _signal(error: BaseException, context: Context, rng: random.Random) -> Decision | None:
    """The gate's and the flow's own signals; None for anything else."""
    if isinstance(error, LeaseLost):
        return Decision("stop", why="lease_lost")
    if isinstance(error, BeginFirst):
        return Decision("begin")
    if isinstance(error, Aborted):
        return Decision("finish", state=JobState.ABORTED, why=str(error))
    if isinstance(error, Deferred):
        # Every call the gate let through before it held this one was answered: none is in flight. A job that
        # reserved its slot comes back for exactly that slot; others spread out so that they do not collide.
        delay = error.delay_s + (0.0 if error.reservation is not None else rng.uniform(0, min(1.0, error.delay_s)))
        return Decision("defer", delay_s=delay, why=error.why, keep_inflight=context.unresolved,
                        refused=context.writing and context.sent > 0)
    return None


def _platform(error: BaseException, *, attempts: int, age_s: float, refreshed: bool, settings: Settings,
              now: datetime | None, rng: random.Random) -> Decision:
    if isinstance(error, RateLimited):
        base = error.retry_after_s if error.retry_after_s is not None else settings.default_rate_limit_wait_s
        return Decision("wait", delay_s=base + rng.uniform(0, settings.rate_limit_jitter_s), why="rate_limited",
                        cool_down_s=base)
    if isinstance(error, QuotaExhausted):
        now = now or datetime.now(UTC)
        delay = max(0.0, (error.retry_at - now).total_seconds())
        return Decision("wait", delay_s=delay + rng.uniform(0, 60), why="quota_exhausted")
    if isinstance(error, AuthExpired) and not refreshed:
        return Decision("refresh", why="auth_expired")
    if isinstance(error, AuthExpired | ReauthRequired):
        return Decision("wait", delay_s=settings.auth_wait_s, why="needs_reauth")
    if isinstance(error, ConfigError):
        return Decision("park", delay_s=settings.config_recheck_s + rng.uniform(0, 1.0), kind=error.scope,
                        why=f"config_fault:{error.scope}")
    if isinstance(error, PermanentError):
        if error.code in REJECT_CODES:
            return Decision("reject", why=error.message)
        return Decision("dead", kind="permanent", why=error.message)
    return _transient(error, attempts=attempts, age_s=age_s, settings=settings, rng=rng)


def _transient(error: BaseException, *, attempts: int, age_s: float, settings: Settings,
               rng: random.Random) -> Decision:
    why = "transient" if isinstance(error, TransientError) else f"unexpected {type(error).__name__}"
    circuit = isinstance(error, TransientError)
    locked = isinstance(error, TransientError) and error.code == "store_locked"
    if attempts + 1 >= settings.max_attempts or age_s >= settings.max_age_s:
        return Decision("dead", kind="exhausted", counts_attempt=True, why=why, circuit=circuit, store_locked=locked)
    return Decision("wait", delay_s=backoff_s(attempts, settings, rng), counts_attempt=True, why=why,
                    circuit=circuit, store_locked=locked)


def after_read(state: OrderState, *, after: BaseException | None = None, status: OrderStatus | None = None,
               write_at: float | None = None) -> Decision:
    """What a reconciliation read means, ``after`` an answer to our write that left its fate unknown, or on
    resuming a job whose write was left in flight (None).

    A cancelled order is ours (``inferred``) unless the evidence says otherwise: the platform refused the write
    (a permanent answer that asked to check), the platform says someone else cancelled it (Shopee's
    ``cancel_by`` system or ops), or it was cancelled before our first write left (``write_at``, epoch
    seconds; ``CLOCK_MARGIN_S`` allows for the platform's clock and its whole-second times)."""
    if state is OrderState.CANCELLED:
        if isinstance(after, PermanentError):
            return Decision("finish", state=JobState.ALREADY_CANCELLED, why="reconciled", attribution=REFUSED)
        if status is not None and _someone_else(status, write_at):
            return Decision("finish", state=JobState.ALREADY_CANCELLED, why="reconciled", attribution=BEFORE_US)
        return Decision("finish", state=JobState.SUCCEEDED, why="reconciled", attribution=INFERRED)
    if state is OrderState.NOT_CANCELLABLE:
        return Decision("dead", kind="permanent", why="not_cancellable")
    # The write did not take effect: the flow starts again from its first step, so a multi-step flow
    # (Lazada) sends its write only after a fresh read and validation.
    return Decision("restart", why="write_not_applied" if after is not None else "resume")


def _someone_else(status: OrderStatus, write_at: float | None) -> bool:
    if status.cancelled_by is not None and status.cancelled_by not in OUR_CANCELLERS:
        return True
    return status.cancelled_at is not None and write_at is not None and status.cancelled_at < write_at - CLOCK_MARGIN_S


def backoff_s(attempts: int, settings: Settings, rng: random.Random) -> float:
    """Full jitter: uniform over [0, min(cap, base * 2**attempts)] (AWS architecture blog's recommendation)."""
    ceiling = min(settings.retry_cap_s, settings.retry_base_s * (2 ** min(attempts, 30)))
    return rng.uniform(0, ceiling)
