"""Fencing with real worker processes: a worker frozen past its lease (SIGSTOP, as a GC pause or a VM freeze
does), and a platform answer trickled past the lease."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.client import CancelQ
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime()
    yield CancelQ(runtime)
    runtime.session.close()


def _job(shop: str, order_id: str) -> dict[str, str]:
    return {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"}


def _events(log: Path, event: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == event]


def test_a_worker_frozen_past_its_lease_cannot_change_what_its_successor_recorded(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "FROZEN-1", state="cancellable")
    # The first cancel is held before the sandbox applies it: it lands after the successor's, and is refused.
    sandbox.fault("shopee", "latency", endpoint="cancel_order", latency_ms=6000, times=1)
    frozen_log, successor_log = tmp_path / "w1.log", tmp_path / "w2.log"
    with WorkerProcess(frozen_log, redis_url, concurrency=1, name="frozen") as frozen:
        handle = client.submit(_job(shop, "FROZEN-1"))
        wait_until(lambda: sandbox.order("shopee", "FROZEN-1")["calls"].get("cancel_order") == 1,
                   what="the first worker's cancel to reach the platform")
        assert frozen.pid is not None
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            with WorkerProcess(successor_log, redis_url, concurrency=2, name="successor"):
                done = wait_until(lambda: (r := client.job(handle.job_id)).final and r, timeout_s=30,
                                  what="the successor to take the job over and finish it")
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        wait_until(lambda: _events(frozen_log, "lease_lost"), timeout_s=30,
                   what="the thawed worker to learn its lease was lost")
    after = client.job(handle.job_id)
    assert (done.state, done.attribution, done.deliveries, int(done.fence)) == ("succeeded", "confirmed", 2, 2)
    assert after == done, "the thawed worker's late answer must change nothing the successor recorded"
    assert sandbox.order("shopee", "FROZEN-1")["cancels_applied"] == 1
    assert not _events(successor_log, "lease_lost")


def test_an_answer_trickled_past_the_lease_ends_at_the_call_deadline(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    """Each piece comes within the read timeout, the whole answer would take twice the lease (3 s here): the
    call's total deadline (half the lease) ends it, the order is read, and no other worker ever takes over."""
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "SLOW-1", state="cancellable")
    sandbox.fault("shopee", "trickle", endpoint="cancel_order", after_write=True, trickle_bytes=4, trickle_ms=150)
    log = tmp_path / "w.log"
    with WorkerProcess(log, redis_url, concurrency=2):
        record = client.submit(_job(shop, "SLOW-1")).wait(timeout_s=30, poll_s=0.02)
    assert (record.state, record.attribution, record.deliveries) == ("succeeded", "inferred", 1)
    assert record.last_error is None or record.last_error.get("code") == "deadline"
    assert sandbox.order("shopee", "SLOW-1")["cancels_applied"] == 1
    assert not _events(log, "lease_lost")
