"""The fleet acting on pushes: a push is a hint, the order read through the API decides (issue 17).

The push consumer runs as a thread of the test process (as in a worker), against the session's Valkey and the
sandbox over HTTP; jobs are delivered in the test process (``JobRun``), so nothing but the processor moves them
once they wait.
"""

from __future__ import annotations

import time

import pytest

from cancelq.core import keys
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.platforms.errors import TransientError
from cancelq.pushes.processor import PushProcessor
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.deliveries import hint
from tests.helpers import add_kit_shop, wait_until
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE
from tests.pushes.conftest import MakeRuntime
from tests.pushes.pushing import CANCELLED_WORD, events_of, push, submit

KITS = [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA]
LONG = {"retry_base_s": 3600.0, "retry_cap_s": 3600.0, "max_attempts": 100}


def _record(rt: Runtime, job_id: str) -> JobRecord:
    record = rt.ledger.get(job_id)
    assert record is not None
    return record


def _waiting_long(rt: Runtime, sandbox: SandboxClient, kit: Kit, job_id: str) -> JobRecord:
    """Deliver the job until it waits on a backoff of more than a minute, its writes failing transiently."""
    transient = next(spec for spec, kind in kit.error_faults if kind is TransientError)
    fault = sandbox.fault(kit.platform, "error", endpoint=kit.write_endpoint, times=None, **transient)
    JobRun(rt, job_id, hint(rt, job_id)).run()
    for _ in range(20):
        record = _record(rt, job_id)
        if record.state == "waiting" and (record.due_at or 0) > now_ms() + 60_000:
            break
        JobRun(rt, job_id).run()  # a short draw of the full-jitter backoff: try again until a long one
    sandbox.remove_fault(fault["id"])
    assert record.state == "waiting" and not record.inflight, record
    return record


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.platform)
def test_a_job_on_a_long_backoff_ends_already_cancelled_within_a_second_of_a_seller_center_cancel(
        make_rt: MakeRuntime, sandbox: SandboxClient, sandbox_url: str, kit: Kit) -> None:
    rt = make_rt(**LONG)
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancellable", **kit.order_options)
    job_id = submit(rt, kit, shop, "ORD-1")
    before = _waiting_long(rt, sandbox, kit, job_id)
    consumer = PushProcessor(rt, "test@pushes", block_ms=50)
    consumer.start()
    try:
        started = time.monotonic()
        sandbox.cancel_elsewhere(kit.platform, "ORD-1")
        sent = push(rt, kit.platform, shop, "ORD-1", CANCELLED_WORD[kit.platform])
        done = wait_until(lambda: _record(rt, job_id).final and _record(rt, job_id), timeout_s=1.0,
                          what="the job to end on the push")
        took_s = time.monotonic() - started
    finally:
        consumer.stop()
    assert done.state == "already_cancelled" and done.attribution == "before_us", done
    assert took_s < 1.0 and int(done.fence) > int(before.fence)
    assert rt.redis.zscore(keys.DELAYED, job_id) is None, "the long wait's timer must be gone"
    [outcome] = events_of(rt, "cancel.already_cancelled")
    evidence = outcome.data["evidence"]
    assert evidence["source"] == "push" and evidence["push_message_id"] == sent.message_id
    assert evidence["pushed_at_ms"] == sent.pushed_at_ms and evidence["read_request_id"]
    [elsewhere] = events_of(rt, "order.cancelled_elsewhere")
    assert elsewhere.data["job_id"] == job_id and elsewhere.data["order_id"] == "ORD-1"
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def _shopee(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, order_id: str = "ORD-1", **spec: object) -> str:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, **({"state": "cancellable"} | spec))
    return shop


def _handled(rt: Runtime, processor: PushProcessor) -> bool:
    """Every push appended so far was read by the group and acknowledged."""
    groups = rt.redis.xinfo_groups(keys.PUSHES)
    return bool(groups) and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == \
        rt.redis.xinfo_stream(keys.PUSHES)["last-generated-id"]


def test_a_job_whose_write_was_left_in_flight_ends_succeeded_on_the_push(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    """The write was applied, its answer lost, and the read after it failed: the job waits with the write in
    flight. The push's read finds the order cancelled by the seller after our write left: ours (inferred)."""
    shop = _shopee(rt, sandbox, sandbox_url)
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    sandbox.fault("shopee", "drop", endpoint="cancel_order", after_write=True)
    sandbox.fault("shopee", "error", endpoint="get_order_detail", code="error_server", message="System error.")
    JobRun(rt, job_id, hint(rt, job_id)).run()
    waiting = _record(rt, job_id)
    assert waiting.state == "waiting" and waiting.inflight == "cancel", waiting
    sent = push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    done = wait_until(lambda: _record(rt, job_id).final and _record(rt, job_id), timeout_s=5, what="the job's end")
    assert done.state == "succeeded" and done.attribution == "inferred", done
    [outcome] = events_of(rt, "cancel.succeeded")
    assert outcome.data["evidence"]["push_message_id"] == sent.message_id
    assert events_of(rt, "order.cancelled_elsewhere") == [], "our own cancel is not someone else's"
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1


def test_an_order_with_no_job_is_announced_cancelled_elsewhere_once_whatever_its_pushes(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    shop = _shopee(rt, sandbox, sandbox_url)
    sandbox.cancel_elsewhere("shopee", "ORD-1")
    first = push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    push(rt, "shopee", shop, "ORD-1", "CANCELLED", message_id=first.message_id)  # the platform's own retry
    push(rt, "shopee", shop, "ORD-1", "CANCELLED")  # the same change pushed again under a new message id
    push(rt, "shopee", shop, "ORD-1", "READY_TO_SHIP")  # an older change, arriving last
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the pushes to be handled")
    [told] = events_of(rt, "order.cancelled_elsewhere")
    assert told.data == {"platform": "shopee", "shop": shop, "order_id": "ORD-1", "order_status": "CANCELLED",
                         "read_request_id": told.data["read_request_id"], "source": "push",
                         "push_message_id": first.message_id, "pushed_at_ms": first.pushed_at_ms}
    assert rt.redis.xlen(keys.PUSHES) == 3, "the store keeps a message once"


def test_a_push_that_says_nothing_of_a_cancel_costs_no_read(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    shop = _shopee(rt, sandbox, sandbox_url)
    reads = sandbox.stats()
    push(rt, "shopee", shop, "ORD-1", "SHIPPED")
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the push to be handled")
    assert sandbox.stats() == reads and events_of(rt, "order.cancelled_elsewhere") == []


def test_duplicated_and_reordered_pushes_end_a_job_once(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    shop = _shopee(rt, sandbox, sandbox_url)
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    sandbox.cancel_elsewhere("shopee", "ORD-1")
    push(rt, "shopee", shop, "ORD-1", "READY_TO_SHIP")
    push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the first pushes to be handled")
    ended = _record(rt, job_id)
    assert ended.state == "already_cancelled"
    for _ in range(3):
        push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    push(rt, "shopee", shop, "ORD-1", "UNPAID")
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the later pushes to be handled")
    assert _record(rt, job_id) == ended, "a final outcome never changes"
    assert len(events_of(rt, "cancel.already_cancelled")) == 1
    assert len(events_of(rt, "order.cancelled_elsewhere")) == 1


def test_a_job_a_live_delivery_holds_is_not_overwritten(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    shop = _shopee(rt, sandbox, sandbox_url)
    job_id = submit(rt, SHOPEE, shop, "ORD-1")
    delivery = JobRun(rt, job_id)
    assert delivery.begin()  # a delivery holds the lease, before its write
    held = _record(rt, job_id)
    sandbox.cancel_elsewhere("shopee", "ORD-1")
    push(rt, "shopee", shop, "ORD-1", "CANCELLED")
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the push to be handled")
    assert _record(rt, job_id) == held, "the processor must not write over a live lease"
    delivery.run_recorded()  # the delivery goes on: its own read finds the order cancelled
    done = _record(rt, job_id)
    assert done.state == "already_cancelled" and done.fence == held.fence
    assert len(events_of(rt, "cancel.already_cancelled")) == 1


def test_jobs_with_their_own_key_or_items_are_found_through_the_order_index(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    shopee = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    lazada = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "OWN-1", state="cancellable")
    view = sandbox.add_order("lazada", LAZADA.shop_ref, "ITEMS-1", state="cancellable", **LAZADA.order_options)
    item = {"order_item_id": int(view["items"][0]["order_item_id"])}
    own = admit(rt, {"platform": "shopee", "shop": shopee, "order_id": "OWN-1", "reason": "CUSTOMER_REQUEST",
                     "idempotency_key": "erp-4711"})
    part = admit(rt, {"platform": "lazada", "shop": lazada, "order_id": "ITEMS-1", "reason": "CUSTOMER_REQUEST",
                      "items": [item]})
    assert not own.rejected and not part.rejected, (own.reason, part.reason)
    assert rt.ledger.order_jobs("shopee", shopee, "OWN-1") == [own.job_id]
    assert rt.ledger.order_jobs("lazada", lazada, "ITEMS-1") == [part.job_id]
    plain = submit(rt, SHOPEE, shopee, "PLAIN-1")
    assert rt.redis.keys(keys.order_jobs("shopee", shopee, "PLAIN-1")) == [], "the common job writes no index"
    for platform, order_id in (("shopee", "OWN-1"), ("lazada", "ITEMS-1")):
        sandbox.cancel_elsewhere(platform, order_id)
        push(rt, platform, shopee if platform == "shopee" else lazada, order_id, CANCELLED_WORD[platform])
    wait_until(lambda: _handled(rt, processor), timeout_s=5, what="the pushes to be handled")
    assert _record(rt, own.job_id).state == "already_cancelled"
    assert _record(rt, part.job_id).state == "already_cancelled"
    assert _record(rt, plain).state == "queued"
    told = sorted((e.data["order_id"], e.data.get("job_id")) for e in events_of(rt, "order.cancelled_elsewhere"))
    assert told == [("ITEMS-1", part.job_id), ("OWN-1", own.job_id)]


def test_a_lazada_job_whose_create_was_accepted_ends_succeeded_confirmed_on_the_push(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, processor: PushProcessor) -> None:
    """The create was answered and recorded; the verify read failed, so the job waits. The push's read finds the
    items canceled: our accepted write did it."""
    shop = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("lazada", LAZADA.shop_ref, "LZ-1", state="cancellable", **LAZADA.order_options)
    job_id = submit(rt, LAZADA, shop, "LZ-1")
    sandbox.fault("lazada", "error", endpoint="GetOrderItems", code="6", skip=1)  # the verify, not the first read
    JobRun(rt, job_id, hint(rt, job_id)).run()
    waiting = _record(rt, job_id)
    assert waiting.state == "waiting" and "create" in waiting.steps and not waiting.inflight, waiting
    push(rt, "lazada", shop, "LZ-1", "canceled")
    done = wait_until(lambda: _record(rt, job_id).final and _record(rt, job_id), timeout_s=5, what="the job's end")
    assert done.state == "succeeded" and done.attribution == "confirmed", done
    [outcome] = events_of(rt, "cancel.succeeded")
    assert outcome.data["evidence"]["write_request_id"] == waiting.steps["create"]["request_id"]
    assert events_of(rt, "order.cancelled_elsewhere") == []
