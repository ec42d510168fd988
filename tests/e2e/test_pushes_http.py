"""Issue 17 end to end over HTTP: the sandbox pushes signed order changes to the real receiver (uvicorn), and a
real worker process acts on them.

- a job waiting on a long backoff ends ``already_cancelled`` within a second of a seller-center cancel;
- a buyer's request is accepted once under ``accept`` (its status pushes after our accept name our job, not
  someone else's cancel) and only announced under ``notify``; duplicated and reordered pushes change nothing twice;
- a cancel pushed while the receiver is down is found by the reconciliation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.pushes.processor import GROUP
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.api.server import ApiServer
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.lazada import SELLER_ID
from tests.kits.shopee import KIT as SHOPEE
from tests.pushes.pushing import events_of

PUBLIC_URL = "https://cancelq.example.com"
LONG_BACKOFF = {"CANCELQ_RETRY_BASE_S": "600", "CANCELQ_RETRY_CAP_S": "600", "CANCELQ_MAX_ATTEMPTS": "100"}
NOISY = {"duplicate_share": 0.5, "reorder_share": 0.5, "reorder_delay_ms": 30, "seed": 7}


@pytest.fixture()
def cq(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime(settings=Runtime().settings.model_copy(update={"push_public_url": PUBLIC_URL}))
    yield CancelQ(runtime)
    runtime.session.close()


def _record(cq: CancelQ, job_id: str) -> JobRecord:
    record = cq.rt.ledger.get(job_id)
    assert record is not None
    return record


def _pushing(sandbox: SandboxClient, platform: str, shop_ref: str, server: ApiServer, **options: object) -> None:
    sandbox.push_target(platform, shop_ref, f"{server.url}/pushes/{platform}",
                        callback_url=f"{PUBLIC_URL}/pushes/{platform}", **options)


def _on_backoff(cq: CancelQ, sandbox: SandboxClient, shop: str, order_id: str) -> str:
    """A job whose cancel keeps failing until it waits on a backoff of more than 30 s; its fault then lifted."""
    fault = sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_server", message="System error.",
                          times=None)
    handle = cq.submit({"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"})
    wait_until(lambda: _record(cq, handle.job_id).state == "waiting"
               and (_record(cq, handle.job_id).due_at or 0) > now_ms() + 30_000, timeout_s=20,
               what="a backoff of more than 30 s")
    sandbox.remove_fault(fault["id"])
    return handle.job_id


def test_a_seller_center_cancel_pushed_by_the_sandbox_ends_a_waiting_job_within_a_second(
        cq: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, cq.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "H-1", state="cancellable")
    with ApiServer(cq.rt) as server, WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2,
                                                    env=LONG_BACKOFF) as worker:
        _pushing(sandbox, "shopee", SHOPEE.shop_ref, server, **NOISY)
        job_id = _on_backoff(cq, sandbox, shop, "H-1")
        started = time.monotonic()
        sandbox.cancel_elsewhere("shopee", "H-1")
        wait_until(lambda: _record(cq, job_id).final, timeout_s=1.0, what=f"the push to end the job "
                                                                          f"({worker.last_words()})")
        took_s = time.monotonic() - started
    record = _record(cq, job_id)
    assert record.state == "already_cancelled" and took_s < 1.0
    [outcome] = events_of(cq.rt, "cancel.already_cancelled")
    assert outcome.data["evidence"]["source"] == "push"
    [elsewhere] = events_of(cq.rt, "order.cancelled_elsewhere")  # once, whatever the duplicates
    assert elsewhere.data["job_id"] == job_id
    assert sandbox.order("shopee", "H-1")["cancels_applied"] == 0


def test_buyer_requests_pushed_by_the_sandbox_are_accepted_once_or_only_announced(
        cq: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shopee = add_kit_shop(SHOPEE, sandbox, cq.rt.shops, sandbox_url)
    lazada = add_kit_shop(LAZADA, sandbox, cq.rt.shops, sandbox_url)
    registered = cq.rt.shops.get("lazada", lazada)
    assert registered is not None
    cq.rt.shops.add("lazada", lazada, {**registered.credentials, "seller_id": SELLER_ID}, base_url=sandbox_url)
    cq.set_buyer_policy(f"shopee/{shopee}", "accept")
    cq.set_buyer_policy(f"lazada/{lazada}", "notify")
    sandbox.add_order("shopee", SHOPEE.shop_ref, "B-1", state="cancellable")
    sandbox.add_order("lazada", LAZADA.shop_ref, "B-2", state="cancellable")
    with ApiServer(cq.rt) as server, WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2) as worker:
        _pushing(sandbox, "shopee", SHOPEE.shop_ref, server, **NOISY)
        _pushing(sandbox, "lazada", LAZADA.shop_ref, server, **NOISY)
        sandbox.buyer_cancel("shopee", "B-1")
        sandbox.buyer_cancel("lazada", "B-2")
        wait_until(lambda: len(events_of(cq.rt, "cancel.buyer_requested")) == 2, timeout_s=15,
                   what=f"both requests announced ({worker.last_words()})")
        wait_until(lambda: len(events_of(cq.rt, "cancel.succeeded")) == 1, timeout_s=15,
                   what=f"the Shopee request accepted ({worker.last_words()})")
        wait_until(lambda: not [p for p in sandbox.pushes() if p["state"] == "pending"], timeout_s=15,
                   what="every push answered, duplicates and late ones included")
        wait_until(lambda: not cq.rt.redis.xpending(keys.PUSHES, GROUP)["pending"], timeout_s=15,
                   what="every push handled")
    announced = {e.data["platform"]: e.data for e in events_of(cq.rt, "cancel.buyer_requested")}
    assert {p: d["decision"] for p, d in announced.items()} == {"shopee": "accept", "lazada": "notify"}
    [accepted] = events_of(cq.rt, "cancel.succeeded")
    assert accepted.data["order_id"] == "B-1" and accepted.data["action"] == "accept_buyer_cancel"
    assert sandbox.order("shopee", "B-1")["cancels_applied"] == 1
    assert sandbox.order("lazada", "B-2")["cancels_applied"] == 0
    assert events_of(cq.rt, "order.cancelled_elsewhere") == [], "our accept is not someone else's cancel"
    assert sum(1 for p in sandbox.pushes() if p["duplicate"]) > 0, "the sandbox did send duplicates"


def test_a_cancel_pushed_while_the_receiver_is_down_is_found_by_the_reconciliation(
        cq: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, cq.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "R-1", state="cancellable")
    reconciling = {**LONG_BACKOFF, "CANCELQ_RECONCILE_INTERVAL_S": "1", "CANCELQ_RECONCILE_MIN_WAIT_S": "0"}
    with WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2, env=reconciling) as worker:
        with ApiServer(cq.rt) as server:
            down = f"{server.url}/pushes/shopee"
        sandbox.push_target("shopee", SHOPEE.shop_ref, down, callback_url=f"{PUBLIC_URL}/pushes/shopee",
                            max_attempts=1)
        job_id = _on_backoff(cq, sandbox, shop, "R-1")
        sandbox.cancel_elsewhere("shopee", "R-1")
        wait_until(lambda: sandbox.pushes(state="failed"), timeout_s=10, what="the push to fail: no receiver")
        wait_until(lambda: _record(cq, job_id).final, timeout_s=20,
                   what=f"the reconciliation to end the job ({worker.last_words()})")
    record = _record(cq, job_id)
    assert record.state == "already_cancelled"
    [outcome] = events_of(cq.rt, "cancel.already_cancelled")
    assert outcome.data["evidence"]["source"] in ("reconcile", "push")  # a read, or Shopee's lost-push list
    assert sandbox.order("shopee", "R-1")["cancels_applied"] == 0


def test_a_cancel_the_platform_leaves_pending_is_watched_announced_unconfirmed_then_confirmed(
        cq: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    """Shopee leaves our cancel IN_CANCEL: its push puts the job on the watch (it is not a buyer's request);
    past ``verify_within_s`` it is announced ``cancel.unconfirmed`` and shown by ``cancelq status``; the
    platform's confirmation, pushed, takes it off the list."""
    shop = add_kit_shop(SHOPEE, sandbox, cq.rt.shops, sandbox_url)
    cq.set_buyer_policy(f"shopee/{shop}", "accept")
    sandbox.add_order("shopee", SHOPEE.shop_ref, "P-1", state="cancellable", cancel_pending=True)
    watching = {"CANCELQ_VERIFY_WITHIN_S": "1", "CANCELQ_RECONCILE_INTERVAL_S": "0.5"}
    with ApiServer(cq.rt) as server, WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2,
                                                    env=watching) as worker:
        _pushing(sandbox, "shopee", SHOPEE.shop_ref, server)
        handle = cq.submit({"platform": "shopee", "shop": shop, "order_id": "P-1", "reason": "CUSTOMER_REQUEST"})
        assert handle.wait(timeout_s=15).state == "succeeded"
        assert sandbox.order("shopee", "P-1")["status"] == "IN_CANCEL"
        wait_until(lambda: events_of(cq.rt, "cancel.unconfirmed"), timeout_s=15,
                   what=f"the cancel announced unconfirmed ({worker.last_words()})")
        shown = json.loads(_status_json(redis_url))
        assert [u["job_id"] for u in shown["unconfirmed"]] == [handle.job_id]
        sandbox.confirm_cancel("shopee", "P-1")
        wait_until(lambda: not json.loads(_status_json(redis_url))["unconfirmed"], timeout_s=15,
                   what=f"the confirmation to take the job off the list ({worker.last_words()})")
    [unconfirmed] = events_of(cq.rt, "cancel.unconfirmed")
    assert unconfirmed.data["job_id"] == handle.job_id
    assert events_of(cq.rt, "cancel.buyer_requested") == [], "our own pending cancel is no buyer's request"
    assert sandbox.order("shopee", "P-1")["cancels_applied"] == 1


def _status_json(redis_url: str) -> str:
    result = subprocess.run([sys.executable, "-m", "cancelq.cli.main", "status", "--json"], capture_output=True,
                            text=True, env={**os.environ, "CANCELQ_REDIS_URL": redis_url}, timeout=60, check=True)
    return result.stdout
