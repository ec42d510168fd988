"""A shop's cancellation budget: taken in the gate call that lets the write go, held writes wait (visibly) until
the window frees room, an operator raises it or approves more; CUSTOMER_REQUEST does not count; the dry run
shows what a campaign would use. In this process, against a real Valkey and the sandbox over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.gate.budget import Budget, BudgetError, parse_window
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.campaign_helpers import deliver_queued, job_ids, write_csv
from tests.deliveries import hint, run_until_final
from tests.helpers import add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()


def _submit(rt: Runtime, shop: str, order_id: str, reason: str = "UNDELIVERABLE_AREA") -> str:
    admitted = admit(rt, {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": reason})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def _shop(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, orders: list[str]) -> str:
    name = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_orders([{"platform": "shopee", "shop": SHOPEE.shop_ref, "order_id": o, "state": "cancellable"}
                        for o in orders])
    return name


def _state(rt: Runtime, job_id: str) -> tuple[str, str]:
    record = rt.ledger.get(job_id)
    assert record is not None
    return record.state, str(record.events[-1].get("why", "")) if record.state == "waiting" else ""


def _again(rt: Runtime, job_id: str) -> None:
    wait_until(lambda: (rt.ledger.get(job_id).due_at or 0) <= now_ms(), timeout_s=15,  # type: ignore[union-attr]
               what=f"job {job_id} to fall due")
    JobRun(rt, job_id).run()


def test_the_budget_holds_writes_past_it_approvals_and_a_raise_let_them_go(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    orders = [f"B-{i}" for i in range(7)]
    shop = _shop(rt, sandbox, sandbox_url, orders)
    cq = CancelQ(rt)
    cq.set_budget(f"shopee/{shop}", max_cancels=3, per_s=3600)
    ids = [_submit(rt, shop, o, "CUSTOMER_REQUEST" if i >= 5 else "UNDELIVERABLE_AREA") for i, o in enumerate(orders)]
    for job_id in ids:
        JobRun(rt, job_id, hint(rt, job_id)).run()
    assert [_state(rt, j) for j in ids] == [("succeeded", "")] * 3 + [("waiting", "budget")] * 2 + [
        ("succeeded", "")] * 2
    assert all(rt.ledger.get(j).attempts == 0 for j in ids)  # type: ignore[union-attr]
    assert sum(sandbox.order("shopee", o)["cancels_applied"] for o in orders) == 5
    assert all(sandbox.order("shopee", o)["calls"].get("cancel_order") is None for o in orders[3:5])
    shown = CliRunner().invoke(app, ["budget", "show", f"shopee/{shop}", "--json"])
    assert shown.exit_code == 0 and {k: json.loads(shown.output)[k] for k in ("used", "room", "max")} == {
        "used": 3, "room": 0, "max": 3}
    approved = CliRunner().invoke(app, ["budget", "approve", f"shopee/{shop}", "--extra", "1"])
    assert approved.exit_code == 0 and "1 cancel(s) approved" in approved.output
    for job_id in ids[3:5]:
        _again(rt, job_id)
    assert sorted(_state(rt, j) for j in ids[3:5]) == [("succeeded", ""), ("waiting", "budget")]
    assert cq.budget_usage(f"shopee/{shop}").approved == 0  # type: ignore[union-attr]
    raised = CliRunner().invoke(app, ["shops", "set-budget", f"shopee/{shop}", "--max", "5", "--per", "1h"])
    assert raised.exit_code == 0 and "at most 5 cancels per 3600s" in raised.output
    waiting = [j for j in ids[3:5] if _state(rt, j)[0] == "waiting"]
    assert run_until_final(rt, waiting[0], first_hint=False).state == "succeeded"
    assert sum(sandbox.order("shopee", o)["cancels_applied"] for o in orders) == 7


def test_the_window_frees_room(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    orders = [f"W-{i}" for i in range(4)]
    shop = _shop(rt, sandbox, sandbox_url, orders)
    CancelQ(rt).set_budget(f"shopee/{shop}", max_cancels=2, per_s=1.5)
    ids = [_submit(rt, shop, o) for o in orders]
    for job_id in ids:
        JobRun(rt, job_id, hint(rt, job_id)).run()
    assert [_state(rt, j)[0] for j in ids] == ["succeeded", "succeeded", "waiting", "waiting"]
    let_go = [float(score) for _, score in rt.redis.zrange(keys.budget(f"shopee/{shop}"), 0, -1, withscores=True)]
    assert [run_until_final(rt, j, first_hint=False).state for j in ids[2:]] == ["succeeded"] * 2
    later = [float(s) for m, s in rt.redis.zrange(keys.budget(f"shopee/{shop}"), 0, -1, withscores=True)
             if str(m) in ids[2:]]
    assert min(later) >= max(let_go) + 1500 - 1, "no cancel went before the window freed its room"


def test_a_dry_run_shows_the_budget_it_would_use_and_the_rows_that_would_wait(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, tmp_path: Path) -> None:
    orders = [f"D-{i}" for i in range(8)]
    shop = _shop(rt, sandbox, sandbox_url, orders)
    sandbox.ship("shopee", "D-7")
    CancelQ(rt).set_budget(f"shopee/{shop}", max_cancels=4, per_s=86400)
    rows = [{"platform": "shopee", "shop": shop, "order_id": o, "reason": "CUSTOMER_REQUEST" if o == "D-6" else
             "UNDELIVERABLE_AREA"} for o in orders]
    run = CancelQ(rt).run_campaign(write_csv(tmp_path / "dry.csv", rows), dry_run=True)
    deliver_queued(rt)
    assert {_state(rt, j)[0] for j in job_ids(rt, run.campaign_id)} == {"previewed"}
    status = CliRunner().invoke(app, ["campaign", "status", run.campaign_id, "--json"])
    assert status.exit_code == 0
    budgets = json.loads(status.output)["budgets"]
    assert budgets == [{"shop": f"shopee/{shop}", "max": 4, "window_s": 86400.0, "used": 0, "room": 4,
                        "counted": 6, "would_go": 4, "would_wait": 2}]
    text = " ".join(CliRunner().invoke(app, ["campaign", "status", run.campaign_id]).output.split())
    assert f"budget shopee/{shop}: 0/4 per 86400s used; this campaign would use 6: 4 go now, 2 would wait" in text
    assert sum(sandbox.order("shopee", o)["cancels_applied"] for o in orders) == 0


def test_budget_settings_are_checked() -> None:
    assert parse_window("24h") == 86400 and parse_window("90m") == 5400 and parse_window("30") == 30
    with pytest.raises(BudgetError):
        parse_window("a day")
    with pytest.raises(BudgetError):
        Budget.parse("shopee/x", {"max": -1, "per_s": 10})
    assert Budget.parse("shopee/x", {"max": 1, "per_s": 10}).counts("OUT_OF_STOCK")
    assert not Budget.parse("shopee/x", {"max": 1, "per_s": 10}).counts("CUSTOMER_REQUEST")


def test_a_budget_costs_nothing_when_off(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = _shop(rt, sandbox, sandbox_url, ["O-1"])
    job_id = _submit(rt, shop, "O-1")
    JobRun(rt, job_id, hint(rt, job_id)).run()
    assert _state(rt, job_id)[0] == "succeeded" and not rt.redis.keys(keys.budget("*"))
