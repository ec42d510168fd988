"""A real worker process consumes pushes: a job on a long backoff ends within a second of a seller-center cancel."""

from __future__ import annotations

import time
from pathlib import Path

from cancelq.client import CancelQ
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE
from tests.pushes.pushing import events_of, long_backoff, push

LONG_BACKOFF = {"CANCELQ_RETRY_BASE_S": "600", "CANCELQ_RETRY_CAP_S": "600", "CANCELQ_MAX_ATTEMPTS": "100"}


def test_a_worker_ends_a_job_on_a_long_backoff_within_a_second_of_the_push(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "W-1", state="cancellable")
    fault = sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_server", message="System error.",
                          times=None)
    with WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2, env=LONG_BACKOFF) as worker:
        handle = client.submit({"platform": "shopee", "shop": shop, "order_id": "W-1", "reason": "CUSTOMER_REQUEST"})
        wait_until(lambda: long_backoff(client.rt, handle.job_id), timeout_s=20, what="a backoff of more than 30 s")
        sandbox.remove_fault(fault["id"])
        started = time.monotonic()
        sandbox.cancel_elsewhere("shopee", "W-1")
        push(client.rt, "shopee", shop, "W-1", "CANCELLED")
        wait_until(lambda: client.rt.ledger.get(handle.job_id).final, timeout_s=1.0,  # type: ignore[union-attr]
                   what=f"the job to end on the push ({worker.last_words()})")
        took_s = time.monotonic() - started
    record = client.rt.ledger.get(handle.job_id)
    assert record is not None and record.state == "already_cancelled" and took_s < 1.0
    [outcome] = events_of(client.rt, "cancel.already_cancelled")
    assert outcome.data["evidence"]["source"] == "push"
    assert sandbox.order("shopee", "W-1")["cancels_applied"] == 0
