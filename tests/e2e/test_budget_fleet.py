"""The cancellation budget holds exactly under a fleet: 4 worker processes x 16 threads on one shop never let
one cancel past it, re-looking jobs included; an approval lets exactly that many more go."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from cancelq.client import CancelQ
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import KITS, add_shops
from tests.helpers import WorkerProcess, wait_until

JOBS, BUDGET, APPROVED = 100, 40, 20


def _budget_holds(client: CancelQ, job_id: str) -> int:
    return sum(1 for event in client.job(job_id).events if event.get("why") == "budget")


def test_four_processes_of_sixteen_threads_never_cancel_past_the_budget(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = add_shops(client.rt, sandbox, sandbox_url)["shopee"]
    orders = [f"FB-{i:03d}" for i in range(JOBS)]
    sandbox.add_orders([{"platform": "shopee", "shop": KITS["shopee"].shop_ref, "order_id": o, "state": "cancellable"}
                        for o in orders])
    client.set_budget(f"shopee/{shop}", max_cancels=BUDGET, per_s=3600)

    def cancelled() -> int:
        return sum(sandbox.order("shopee", o)["cancels_applied"] for o in orders)

    with ExitStack() as workers:
        for n in range(4):
            workers.enter_context(WorkerProcess(tmp_path / f"w{n}.log", redis_url, name=f"w{n}", concurrency=16))
        ids = [client.submit({"platform": "shopee", "shop": shop, "order_id": o, "reason": "UNDELIVERABLE_AREA"}
                             ).job_id for o in orders]
        wait_until(lambda: Counter(client.job(j).state for j in ids)["succeeded"] == BUDGET, timeout_s=60,
                   what="the budget's worth of cancels")
        waiting = [j for j in ids if client.job(j).state != "succeeded"]
        wait_until(lambda: all(_budget_holds(client, j) >= 2 for j in waiting), timeout_s=60,
                   what="every job past the budget to be held twice")
        assert cancelled() == BUDGET and client.budget_usage(f"shopee/{shop}").used == BUDGET  # type: ignore[union-attr]
        client.approve_budget(f"shopee/{shop}", APPROVED)
        wait_until(lambda: Counter(client.job(j).state for j in ids)["succeeded"] == BUDGET + APPROVED,
                   timeout_s=60, what="the approved cancels")
        rest = {j: _budget_holds(client, j) for j in ids if client.job(j).state != "succeeded"}
        wait_until(lambda: all(_budget_holds(client, j) > held for j, held in rest.items()), timeout_s=60,
                   what="the rest to be held again after the approvals were spent")
        assert cancelled() == BUDGET + APPROVED
    assert Counter(client.job(j).state for j in ids) == {"succeeded": BUDGET + APPROVED,
                                                        "waiting": JOBS - BUDGET - APPROVED}
    assert all(client.job(j).attempts == 0 for j in ids)
    assert sandbox.stats()["cancelled_twice"] == [] and client.rt.dead_letters.size() == 0
