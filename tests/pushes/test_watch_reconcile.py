"""The unconfirmed watch, the reconciliation that stands in for lost pushes, and pushes whose handling failed."""

from __future__ import annotations

import pytest
import structlog
import structlog.testing

from cancelq.core import keys
from cancelq.pushes.orders import Orders
from cancelq.pushes.processor import GROUP, PushProcessor
from cancelq.pushes.reconcile import Reconciler
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.deliveries import run_until_final
from tests.helpers import add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shopline import KIT as SHOPLINE
from tests.pushes.conftest import MakeRuntime
from tests.pushes.pushing import events_of, push, submit
from tests.pushes.test_processor import LONG, _record, _waiting_long


def _pending(rt: Runtime) -> int:
    return int(rt.redis.xpending(keys.PUSHES, GROUP)["pending"])


def test_an_order_left_in_cancel_after_our_cancel_is_announced_unconfirmed_once(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = make_rt(verify_within_s=0.3)
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    assert run_until_final(rt, job_id).state == "succeeded"
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="in_cancel")  # the platform has not confirmed
    consumer = PushProcessor(rt, "test@pushes", block_ms=50)
    consumer.start()
    try:
        push(rt, "shopee", shop, "ORD-1", "IN_CANCEL")
        [told] = wait_until(lambda: events_of(rt, "cancel.unconfirmed"), timeout_s=5, what="cancel.unconfirmed")
        assert consumer.orders.sweep() == 0, "an announced job is no longer watched"
        push(rt, "shopee", shop, "ORD-1", "IN_CANCEL")  # the platform says it again
        wait_until(lambda: _pending(rt) == 0 and rt.redis.xlen(keys.PUSHES) == 2, timeout_s=5, what="the pushes")
        assert len(events_of(rt, "cancel.unconfirmed")) == 1
        assert told.data["job_id"] == job_id and told.data["order_status"] == "IN_CANCEL"
        assert told.data["verify_within_s"] == 0.3
        assert [u.job_id for u in consumer.orders.watch.unconfirmed()] == [job_id]
        sandbox.cancel_elsewhere("shopee", "ORD-1")  # the platform confirms at last
        push(rt, "shopee", shop, "ORD-1", "CANCELLED")
        wait_until(lambda: not consumer.orders.watch.unconfirmed(), timeout_s=5, what="the job to be confirmed")
    finally:
        consumer.stop()
    assert _record(rt, job_id).state == "succeeded"
    assert len(events_of(rt, "cancel.succeeded")) == 1 and events_of(rt, "order.cancelled_elsewhere") == []


def test_the_reconciliation_finds_a_cancel_whose_push_was_lost_within_the_shops_read_allowance(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = make_rt(**LONG, reconcile_orders_per_shop=2)
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    jobs = []
    for n in range(3):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"ORD-{n}", state="cancellable")
        jobs.append(submit(rt, SHOPEE, shop, f"ORD-{n}"))
        _waiting_long(rt, sandbox, SHOPEE, jobs[-1])
        sandbox.cancel_elsewhere("shopee", f"ORD-{n}")  # the receiver was down: no push
    reconciler = Reconciler(rt, Orders(rt))
    assert reconciler.run_round() == 2, "at most reconcile_orders_per_shop reads per shop and round"
    assert reconciler.run_round() == 1
    assert reconciler.run_round() == 0
    for job_id in jobs:
        assert _record(rt, job_id).state == "already_cancelled"
    outcomes = events_of(rt, "cancel.already_cancelled")
    assert sorted(e.data["job_id"] for e in outcomes) == sorted(jobs)
    assert {e.data["evidence"]["source"] for e in outcomes} == {"reconcile"}


def test_the_reconciliation_runs_once_per_interval_for_the_fleet(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = make_rt(**LONG, reconcile_interval_s=0.01)
    shop = add_kit_shop(SHOPLINE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopline", SHOPLINE.shop_ref, "ORD-1", state="cancellable", **SHOPLINE.order_options)
    job_id = submit(rt, SHOPLINE, shop, "ORD-1")
    _waiting_long(rt, sandbox, SHOPLINE, job_id)
    sandbox.cancel_elsewhere("shopline", "ORD-1")
    rt.redis.set(keys.PUSH_RECONCILE_LOCK, "another-worker", px=60_000)
    assert Reconciler(rt, Orders(rt)).maybe_run() == 0, "another worker ran this interval's round"
    rt.redis.delete(keys.PUSH_RECONCILE_LOCK)
    fresh = Reconciler(rt, Orders(rt))
    assert wait_until(fresh.maybe_run, timeout_s=2, what="a round, one interval after the worker started") == 1
    assert _record(rt, job_id).state == "already_cancelled"


def test_a_push_a_dead_worker_took_is_handled_by_another(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = make_rt(push_retry_s=0.2)
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    sandbox.cancel_elsewhere("shopee", "ORD-1")
    push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    dead = PushProcessor(rt, "dead@pushes")
    assert len(dead.take()) == 1  # it read the push and died before acknowledging it
    consumer = PushProcessor(rt, "live@pushes", block_ms=50)
    consumer.start()
    try:
        wait_until(lambda: _record(rt, job_id).final, timeout_s=5, what="the push to be taken over")
        wait_until(lambda: _pending(rt) == 0, timeout_s=5, what="the push to be acknowledged")
    finally:
        consumer.stop()
    assert _record(rt, job_id).state == "already_cancelled"


@pytest.mark.parametrize("times", [1, None], ids=["retried", "dropped"])
def test_a_push_whose_read_failed_is_retried_then_dropped(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str, times: int | None) -> None:
    rt = make_rt(push_retry_s=0.1, push_max_tries=3)
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    sandbox.cancel_elsewhere("shopee", "ORD-1")
    fault = sandbox.fault("shopee", "error", endpoint="get_order_detail", code="error_server",
                          message="System error.", times=times)
    push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    consumer = PushProcessor(rt, "test@pushes", block_ms=50)
    with structlog.testing.capture_logs() as logs:
        consumer.start()
        try:
            wait_until(lambda: _pending(rt) == 0 and rt.redis.xinfo_groups(keys.PUSHES)[0]["entries-read"] == 1,
                       timeout_s=5, what="the push to be acknowledged")
        finally:
            consumer.stop()
    hits = sandbox.remove_fault(fault["id"])["hits"]
    tries = [e["tries"] for e in logs if e["event"] in ("push_retry", "push_dropped")]
    if times == 1:
        assert _record(rt, job_id).state == "already_cancelled" and hits == 1 and tries == [1]
    else:
        # each try a delivery of the push; a try the gate holds (a slow machine) reaches no platform
        assert _record(rt, job_id).state == "queued" and 1 <= hits <= 3, "dropped after push_max_tries"
        dropped = [e["tries"] for e in logs if e["event"] == "push_dropped"]
        assert dropped == [3] and tries[-1] == 3, logs
