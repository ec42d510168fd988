"""tasks/policy.py: every error class to its decision, with the settings' numbers."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from cancelq.core.settings import Settings
from cancelq.gate.delivery import Aborted, BeginFirst, Deferred, LeaseLost
from cancelq.platforms.base import OrderState, OrderStatus
from cancelq.platforms.errors import (
    AlreadyCancelled,
    AuthExpired,
    ConfigError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from cancelq.tasks.policy import Context, after_read, backoff_s, decide

S = Settings(retry_base_s=2, retry_cap_s=60, max_attempts=5, max_age_s=3600, rate_limit_jitter_s=0.5,
             default_rate_limit_wait_s=1, auth_wait_s=300, config_recheck_s=30)
P = {"platform": "shopee"}


def _decide(error: Exception, attempts: int = 0, age_s: float = 0, refreshed: bool = False) -> object:
    return decide(error, attempts=attempts, age_s=age_s, refreshed=refreshed, settings=S, rng=random.Random(1),
                  now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


def test_rate_limited_waits_its_retry_after_without_an_attempt() -> None:
    d = _decide(RateLimited("slow down", retry_after_s=7, **P))
    assert d.action == "wait" and not d.counts_attempt and 7 <= d.delay_s <= 7.5
    d = _decide(RateLimited("slow down", **P))
    assert d.action == "wait" and 1 <= d.delay_s <= 1.5


def test_quota_waits_until_it_resets() -> None:
    reset = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    d = _decide(QuotaExhausted("daily", retry_at=reset, **P))
    assert d.action == "wait" and not d.counts_attempt and 6 * 3600 <= d.delay_s <= 6 * 3600 + 60


def test_transient_backs_off_then_is_exhausted() -> None:
    d = _decide(TransientError("error_server", **P), attempts=2)
    assert d.action == "wait" and d.counts_attempt and 0 <= d.delay_s <= 8
    assert _decide(TransientError("x", **P), attempts=4).kind == "exhausted"
    assert _decide(TransientError("x", **P), age_s=3600).kind == "exhausted"
    assert _decide(KeyError("bug")).action == "wait"


@pytest.mark.parametrize("scope", ["app", "shop", "clock"])
def test_a_config_fault_parks_its_scope_without_an_attempt_even_late_in_life(scope: str) -> None:
    error = ConfigError("Wrong sign.", scope=scope, code="error_sign", **P)
    for attempts, age_s in ((0, 0), (4, 3600)):
        d = _decide(error, attempts=attempts, age_s=age_s)
        assert (d.action, d.kind, d.why, d.counts_attempt) == ("park", scope, f"config_fault:{scope}", False)
        assert 30 <= d.delay_s <= 31


def test_a_config_fault_answering_a_write_is_no_refusal_to_attribute() -> None:
    d = decide(ConfigError("banned", scope="shop", **P), attempts=0, age_s=0, refreshed=False, settings=S,
               context=Context(writing=True, sent=1))
    assert d.action == "park" and not d.refused and not d.keep_inflight


def test_a_config_fault_needs_a_known_scope() -> None:
    with pytest.raises(ValueError, match="unknown configuration scope"):
        ConfigError("x", scope="planet", **P)


def test_full_jitter_stays_under_the_capped_ceiling() -> None:
    rng = random.Random(3)
    delays = [backoff_s(a, S, rng) for a in range(12) for _ in range(50)]
    assert max(delays) <= 60 and min(delays) >= 0
    assert max(backoff_s(0, S, rng) for _ in range(200)) <= 2


@pytest.mark.parametrize("error, action, kind", [
    (AuthExpired("token", **P), "refresh", ""),
    (ReauthRequired("unlinked", **P), "wait", ""),
    (PermanentError("shipped", **P), "dead", "permanent"),
    (PermanentError("no such reason", code="unmappable_reason", **P), "reject", ""),
    (AlreadyCancelled("done", **P), "finish", ""),
])
def test_the_other_classes(error: Exception, action: str, kind: str) -> None:
    d = _decide(error)
    assert d.action == action and d.kind == kind


def test_auth_expired_after_a_refresh_parks_the_job() -> None:
    d = _decide(AuthExpired("token", **P), refreshed=True)
    assert d.action == "wait" and d.delay_s == 300 and not d.counts_attempt


WRITE = Context(writing=True, sent=1)
"""A write step whose call left."""


@pytest.mark.parametrize("error, context, action, fields", [
    (LeaseLost("x"), WRITE, "stop", {}),
    (BeginFirst(), Context(), "begin", {}),
    (Aborted("campaign x was aborted"), Context(), "finish", {"state": "aborted"}),
    # The gate held a call after the write was answered: nothing is in flight, and the write was not taken.
    (Deferred(2.0, "rate_limit"), WRITE, "defer", {"keep_inflight": False, "refused": True}),
    (Deferred(2.0, "rate_limit"), Context(writing=True), "defer", {"keep_inflight": False, "refused": False}),
    (Deferred(2.0, "rate_limit"), Context(unresolved=True), "defer", {"keep_inflight": True}),
    (TransientError("timeout", check_status=True, **P), WRITE, "reconcile", {"keep_inflight": True}),
    (PermanentError("odd refusal", check_status=True, **P), WRITE, "reconcile", {}),
    (TransientError("timeout", check_status=True, **P), Context(writing=True), "wait", {"keep_inflight": False}),
    (TransientError("read failed", **P), Context(unresolved=True), "wait", {"keep_inflight": True}),
    (KeyError("a bug met the write's answer"), WRITE, "wait", {"keep_inflight": True}),
    (AlreadyCancelled("refused: cancelled", **P), WRITE, "finish", {"attribution": "refused"}),
    (AlreadyCancelled("read: cancelled", **P), Context(), "finish", {"attribution": "before_us"}),
    (PermanentError("not cancellable", **P), WRITE, "dead", {"refused": True, "keep_inflight": False}),
    (RateLimited("429 to the write", retry_after_s=3, **P), WRITE, "wait", {"keep_inflight": False,
                                                                           "cool_down_s": 3}),
    (TransientError("error_server", **P), Context(), "wait", {"circuit": True}),
    (TransientError("locked", code="store_locked", **P), Context(), "wait", {"circuit": True, "store_locked": True}),
])
def test_every_signal_and_write_case(error: Exception, context: Context, action: str, fields: dict[str, object]
                                     ) -> None:
    d = decide(error, attempts=0, age_s=0, refreshed=False, settings=S, context=context, rng=random.Random(1))
    assert d.action == action
    assert {k: getattr(d, k) for k in fields} == fields


@pytest.mark.parametrize("state, after, action, fields", [
    (OrderState.CANCELLED, TransientError("timeout", check_status=True, **P), "finish",
     {"state": "succeeded", "attribution": "inferred"}),
    (OrderState.CANCELLED, None, "finish", {"state": "succeeded", "attribution": "inferred"}),
    (OrderState.CANCELLED, PermanentError("refused", check_status=True, **P), "finish",
     {"state": "already_cancelled", "attribution": "refused"}),
    (OrderState.NOT_CANCELLABLE, None, "dead", {"kind": "permanent"}),
    (OrderState.CANCELLABLE, TransientError("5xx", check_status=True, **P), "restart", {}),
    (OrderState.IN_CANCEL, None, "restart", {}),
])
def test_what_a_reconciling_read_means(state: OrderState, after: Exception | None, action: str,
                                       fields: dict[str, object]) -> None:
    d = after_read(state, after=after)
    assert d.action == action
    assert {k: getattr(d, k) for k in fields} == fields


@pytest.mark.parametrize("status, write_at, attribution", [
    (OrderStatus(OrderState.CANCELLED, "CANCELLED", cancelled_by="system"), None, "before_us"),
    (OrderStatus(OrderState.CANCELLED, "CANCELLED", cancelled_by="buyer", cancelled_at=1000.0), 1000.5, "inferred"),
    (OrderStatus(OrderState.CANCELLED, "CANCELLED", cancelled_by="seller", cancelled_at=1000.0), 1001.0, "inferred"),
    (OrderStatus(OrderState.CANCELLED, "canceled", cancelled_at=1000.0), 1600.0, "before_us"),
    (OrderStatus(OrderState.CANCELLED, "canceled", cancelled_at=1000.0), 1001.5, "inferred"),
    (OrderStatus(OrderState.CANCELLED, "canceled"), 1600.0, "inferred"),
])
def test_the_platforms_own_evidence_sharpens_an_inferred_success(status: OrderStatus, write_at: float | None,
                                                                 attribution: str) -> None:
    d = after_read(status.state, after=TransientError("timeout", check_status=True, **P), status=status,
                   write_at=write_at)
    assert d.attribution == attribution
    assert d.state == ("succeeded" if attribution == "inferred" else "already_cancelled")
