"""The fleet acting on pushes: a push is a hint, the order read through the API decides (issue 17).

The push consumer runs as a thread of the test process (as in a worker), against the session's Valkey and the
sandbox over HTTP; jobs are delivered in the test process (``JobRun``), so nothing but the processor moves them
once they wait.
"""

from __future__ import annotations

import time

import pytest

from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.pushes.processor import PushProcessor
from cancelq.platforms.errors import TransientError
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
