"""Configuration faults park their scope: one alert, jobs that wait without calls or attempts, a probe after
the fix. In this process, against a real Valkey and the sandbox over HTTP."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.gate.budget import COUNTED_REASONS
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.platforms.errors import ConfigError
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.shops.registry import ShopError
from cancelq.tasks.run import JobRun
from tests.deliveries import hint, run_until_final
from tests.helpers import add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE


def _submit(rt: Runtime, platform: str, shop: str, order_id: str) -> str:
    admitted = admit(rt, {"platform": platform, "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def _deliver_due(rt: Runtime, job_id: str) -> None:
    wait_until(lambda: (rt.ledger.get(job_id).due_at or 0) <= now_ms(), timeout_s=10,  # type: ignore[union-attr]
               what=f"job {job_id} to fall due")
    JobRun(rt, job_id).run()


def _alerts(rt: Runtime) -> list[dict[str, Any]]:
    return [e.data for e in rt.events.recent(count=1000, types=["scope.parked"])]


@pytest.mark.parametrize(("credentials", "problem"), [
    ({"partner_id": 1}, "shop_id is missing"),
    ({**SHOPEE.credentials, "shop_id": "main"}, "partner_id and shop_id must be integers"),
    ({**SHOPEE.credentials, "partner_key": {"k": 1}}, "must be non-empty strings or integers: partner_key"),
    ({**SHOPEE.credentials, "access_token": ""}, "non-empty strings or integers: access_token"),
])
def test_credentials_are_checked_when_stored_and_nothing_is_saved(rt: Runtime, credentials: dict[str, Any],
                                                                  problem: str) -> None:
    with pytest.raises(ShopError, match=problem) as refused:
        rt.shops.add("shopee", "x2", credentials)
    assert SHOPEE.credentials["partner_key"] not in str(refused.value)
    assert rt.shops.get("shopee", "x2") is None and rt.shops.names() == []


@pytest.mark.parametrize(("base_url", "problem"), [
    ("localhost:8765", "is not http(s)://host[:port]"), ("http://h/api/v2", "no path, query or login"),
    ("http://h:99999", "no valid port"),
])
def test_a_base_url_must_be_scheme_host_and_port(rt: Runtime, base_url: str, problem: str) -> None:
    with pytest.raises(ShopError, match=re.escape(problem)):
        rt.shops.add("lazada", "vn", dict(LAZADA.credentials), base_url)


def test_a_shop_stored_with_unusable_credentials_parks_instead_of_crash_looping(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    sandbox.add_shop("shopee", **SHOPEE.shop_spec)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "X-1", state="cancellable")
    # as an older version stored it, before credentials were checked
    rt.redis.hset(keys.shop("shopee", "x2"), mapping={
        "platform": "shopee", "name": "x2", "base_url": sandbox_url, "limits": "{}",
        "credentials": json.dumps({"partner_id": SHOPEE.credentials["partner_id"]})})
    rt.redis.sadd(keys.SHOPS, "shopee/x2")
    job_id = _submit(rt, "shopee", "x2", "X-1")
    JobRun(rt, job_id, hint(rt, job_id)).run()
    for _ in range(3):
        record = rt.ledger.get(job_id)
        assert record is not None and record.state == "waiting" and record.attempts == 0
        assert record.events[-1]["why"] == "config_fault:shop" or record.events[-1]["why"].startswith("parked")
        assert record.last_error["code"] in ("invalid_credentials", "parked:config_fault")
        _deliver_due(rt, job_id)
    assert rt.dead_letters.size() == 0 and rt.ledger.get(job_id).deliveries <= 5  # type: ignore[union-attr]
    assert [(a["scope"], a["shops"], a["code"]) for a in _alerts(rt)] == [("shop", ["x2"], "invalid_credentials")]
    assert "shop_id is missing" in _alerts(rt)[0]["message"]
    assert sum(sandbox.order("shopee", "X-1")["calls"].values()) == 0
    CancelQ(rt).add_shop("shopee", "x2", dict(SHOPEE.credentials), sandbox_url)
    assert run_until_final(rt, job_id, first_hint=False).state == "succeeded"


def test_a_wrong_partner_key_parks_every_shop_of_the_partner_with_one_alert_until_resumed(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    rt.shops.add("shopee", "sister", dict(SHOPEE.credentials), sandbox_url)
    orders = [f"K-{i}" for i in range(4)]
    sandbox.add_orders([{"platform": "shopee", "shop": SHOPEE.shop_ref, "order_id": o, "state": "cancellable"}
                        for o in orders])
    fault = sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_sign", message="Wrong sign.",
                          http_status=403, times=None)
    ids = [_submit(rt, "shopee", shop if i % 2 else "sister", o) for i, o in enumerate(orders)]
    for job_id in ids:
        JobRun(rt, job_id, hint(rt, job_id)).run()
    assert sandbox.remove_fault(fault["id"])["hits"] == 1, "the first answer parked the partner: no second call"
    records = [rt.ledger.get(j) for j in ids]
    assert {(r.state, r.attempts) for r in records if r is not None} == {("waiting", 0)}
    alerts = _alerts(rt)
    assert len(alerts) == 1 and alerts[0]["scope"] == "app" and sorted(alerts[0]["shops"]) == sorted([shop, "sister"])
    assert alerts[0]["code"] == "error_sign" and "cancelq resume" in alerts[0]["action"]
    assert sorted(rt.parking.parked()) == sorted([f"shopee/{shop}", "shopee/sister"])
    done = CancelQ(rt).resume("shop", f"shopee/{shop}")
    assert sorted(done.shops) == sorted([f"shopee/{shop}", "shopee/sister"]) and done.scopes == []
    assert rt.parking.parked() == {}
    assert [run_until_final(rt, j, first_hint=False).state for j in ids] == ["succeeded"] * 4
    assert [e.type for e in rt.events.recent(count=1000, types=["scope.*", "circuit.closed"])][:2] == [
        "scope.parked", "scope.lifted"]


def test_a_probe_that_meets_the_fault_again_parks_again(rt: Runtime, sandbox: SandboxClient,
                                                        sandbox_url: str) -> None:
    shop = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("lazada", LAZADA.shop_ref, "L-1", state="cancellable")
    sandbox.fault("lazada", "error", endpoint="GetOrderItems", code="IncompleteSignature", times=None)
    job_id = _submit(rt, "lazada", shop, "L-1")
    JobRun(rt, job_id, hint(rt, job_id)).run()
    assert rt.ledger.get(job_id).events[-1]["why"] == "config_fault:app"  # type: ignore[union-attr]
    CancelQ(rt).resume("platform", "lazada")
    _deliver_due(rt, job_id)
    assert f"lazada/{shop}" in rt.parking.parked() and len(_alerts(rt)) == 2
    assert rt.dead_letters.size() == 0


def test_a_copy_of_the_shop_read_before_the_park_cannot_lift_it_and_new_credentials_keep_the_budget(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    stale = rt.shops.get("shopee", shop, fresh=True)
    assert stale is not None
    CancelQ(rt).set_budget(f"shopee/{shop}", max_cancels=5, per_s=60)
    rt.parking.park(stale, ConfigError("banned", scope="shop", platform="shopee", code="shop_banned"))
    rt.shops.set_tokens(stale, {**stale.credentials, "access_token": "refreshed-token-0123"}, None)  # a refresh
    assert f"shopee/{shop}" in rt.parking.parked()
    rt.shops.add("shopee", shop, dict(SHOPEE.credentials), sandbox_url)
    fresh = rt.shops.get("shopee", shop, fresh=True)
    assert fresh is not None and fresh.parked == "" and fresh.budget == {"max": 5, "per_s": 60.0,
                                                                         "reasons": sorted(COUNTED_REASONS)}
