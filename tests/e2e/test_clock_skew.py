"""A worker whose clock is off (the ``clock_offset_s`` test hook) measures it against Redis's TIME, says so once,
and sends no call to a platform whose window it is outside; a healthy worker takes those jobs up."""

from __future__ import annotations

import json
from pathlib import Path

from cancelq.client import CancelQ
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import KITS, add_shops
from tests.helpers import WorkerProcess, wait_until

FAST_RECHECK = {"CANCELQ_PAUSE_RECHECK_S": "0.3"}
SKEWED = {"CANCELQ_CLOCK_OFFSET_S": "-600", **FAST_RECHECK}
"""Ten minutes behind: outside Shopee's 5-minute window, well inside Lazada's 7200 s."""


def _log_events(path: Path, name: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in path.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == name]


def _holds(client: CancelQ, job_id: str) -> int:
    return sum(1 for event in client.job(job_id).events if event.get("why") == "clock_fault")


def test_a_skewed_worker_is_detected_and_sends_no_write_outside_the_window(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shops = add_shops(client.rt, sandbox, sandbox_url)
    orders = {p: [f"{p[:2].upper()}-{i}" for i in range(6)] for p in ("shopee", "lazada")}
    sandbox.add_orders([{"platform": p, "shop": KITS[p].shop_ref, "order_id": o, "state": "cancellable"}
                        for p, ids in orders.items() for o in ids])
    skewed_log = tmp_path / "skewed.log"
    with WorkerProcess(skewed_log, redis_url, name="skewed", env=SKEWED):
        told = [e.data for e in client.rt.events.recent(types=["scope.parked"])]
        assert [(e["scope"], e["platform"], e["worker"]) for e in told] == [("clock", "shopee", "skewed@test")]
        assert "600s behind" in str(told[0]["message"])
        handles = {p: [client.submit({"platform": p, "shop": shops[p], "order_id": o, "reason": "CUSTOMER_REQUEST"})
                       for o in ids] for p, ids in orders.items()}
        for handle in handles["lazada"]:
            assert handle.wait(timeout_s=30).state == "succeeded"
        wait_until(lambda: all(_holds(client, h.job_id) >= 2 for h in handles["shopee"]), timeout_s=30,
                   what="each Shopee job to be held twice")
        assert all(client.job(h.job_id).state == "waiting" for h in handles["shopee"])
        assert all(sandbox.order("shopee", o)["calls"] == {} for o in orders["shopee"]), "no call left the worker"
        with WorkerProcess(tmp_path / "healthy.log", redis_url, name="healthy", env=FAST_RECHECK):
            for handle in handles["shopee"]:
                assert handle.wait(timeout_s=60).state == "succeeded"
    skewed = _log_events(skewed_log, "clock_skewed")
    assert len(skewed) == 1 and skewed[0]["holds"] == ["shopee"]
    assert _log_events(skewed_log, "clock_refused") == [] and client.rt.dead_letters.size() == 0
    assert sandbox.stats()["cancelled_twice"] == []
