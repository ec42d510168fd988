"""Fleet-wide limits, cooldowns, circuit breakers and pauses, against a real Valkey and the sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app as cli_app
from cancelq.core import keys
from cancelq.core.settings import Settings, get_settings
from cancelq.gate import controls
from cancelq.gate.limits import Gate, Limit, WriteMark, shop_scope
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.helpers import add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shopline import KIT as SHOPLINE


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    settings = get_settings().model_copy(update={
        "circuit_shop_threshold": 2, "circuit_open_s": 0.3, "pause_recheck_s": 0.1})
    runtime = Runtime(settings=settings)
    yield runtime
    runtime.session.close()


def _submit(rt: Runtime, platform: str, shop: str, order_id: str) -> str:
    admitted = admit(rt, {"platform": platform, "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def _state(rt: Runtime, job_id: str) -> Any:
    record = rt.ledger.get(job_id)
    assert record is not None
    return record


def _run_when_due(rt: Runtime, job_id: str) -> None:
    """Deliver the job once its due time has come, as the pump would."""
    wait_until(lambda: (_state(rt, job_id).due_at or 0) <= now_ms(), timeout_s=10, what=f"{job_id} to fall due")
    JobRun(rt, job_id).run()


def test_limiter_is_atomic_under_concurrent_callers(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    limit = Limit(rate_per_s=0.5, burst=5)
    results: list[bool] = []
    barrier = threading.Barrier(24)

    def caller() -> None:
        barrier.wait()
        results.append(gate.check(limits=[("t:app:shop", limit)], cooldowns=[], circuits=[], job_id="j").allowed)

    threads = [threading.Thread(target=caller) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5
    verdict = gate.check(limits=[("t:app:shop", limit)], cooldowns=[], circuits=[], job_id="j")
    assert not verdict.allowed and verdict.why == "rate_limit" and 1.0 < verdict.wait_s <= 2.0


@pytest.mark.parametrize("rate_per_s", [3.0, 7.0, 10_000.0])
def test_fractional_intervals_are_kept_exactly(redis_client: redis.Redis, rate_per_s: float) -> None:
    gate = Gate(redis_client)
    limit = Limit(rate_per_s, burst=2)
    verdicts = [gate.check(limits=[("frac", limit)], cooldowns=[], circuits=[], job_id="j") for _ in range(3)]
    assert [v.allowed for v in verdicts[:2]] == [True, True]
    assert verdicts[2].allowed == (rate_per_s > 1000)


def test_all_limits_that_apply_are_honoured(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    app_limit, shop_limit = Limit(100, 3), Limit(100, 1)
    first = gate.check(limits=[("app", app_limit), ("shop-a", shop_limit)], cooldowns=[], circuits=[], job_id="j")
    second = gate.check(limits=[("app", app_limit), ("shop-a", shop_limit)], cooldowns=[], circuits=[], job_id="j")
    other = gate.check(limits=[("app", app_limit), ("shop-b", shop_limit)], cooldowns=[], circuits=[], job_id="j")
    assert first.allowed and not second.allowed and other.allowed



def test_a_write_is_recorded_in_flight_by_the_call_that_lets_it_go(redis_client: redis.Redis) -> None:
    """One script checks the pauses, takes the slot and records the step in flight, before the request leaves;
    a held write records nothing and takes no slot."""
    gate = Gate(redis_client)
    limit = Limit(rate_per_s=1, burst=1)
    job_key = keys.job("J-1")
    mark = WriteMark("cancel", ["all", "shop:shopee/s1"])
    controls.pause(redis_client, "shop:shopee/s1", "maintenance")
    held = gate.check(limits=[("s", limit)], cooldowns=[], circuits=[], job_id="J-1", mark=mark)
    assert not held.allowed and held.paused is not None and held.paused[0] == "shop:shopee/s1"
    assert "maintenance" in held.paused[1]
    assert redis_client.hget(job_key, "inflight") is None and not redis_client.hexists(keys.GATE, keys.tat_field("s"))
    controls.resume(redis_client, "shop:shopee/s1")
    allowed = gate.check(limits=[("s", limit)], cooldowns=[], circuits=[], job_id="J-1", mark=mark)
    assert allowed.allowed and allowed.paused is None
    assert redis_client.hget(job_key, "inflight") == "cancel"
    denied = gate.check(limits=[("s", limit)], cooldowns=[], circuits=[], job_id="J-2",
                        mark=WriteMark("cancel", ["all"]))
    assert not denied.allowed and denied.why == "rate_limit"
    assert redis_client.hget(keys.job("J-2"), "inflight") is None, "a write the limiter holds is not in flight"

def test_a_ban_cools_the_scope_down_for_every_worker(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("lazada", LAZADA.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault("lazada", "error", endpoint="OrderCancelValidate", code="ApiCallLimit", ban_s=5)
    job_id = _submit(rt, "lazada", shop, "ORD-1")
    JobRun(rt, job_id).run()
    assert _state(rt, job_id).state == "waiting"
    other_worker = Runtime(settings=rt.settings)
    registered = other_worker.shops.get("lazada", shop)
    assert registered is not None
    scope = f"{shop_scope('lazada', shop, registered.credentials)}:OrderCancelValidate"
    verdict = other_worker.gate.check(limits=[], cooldowns=[scope], circuits=[], job_id="other")
    assert not verdict.allowed and verdict.why == "cooldown" and 4.0 < verdict.wait_s <= 5.0
    assert scope.removeprefix("") in controls.snapshot(rt.redis).cooldowns


def test_jobs_held_by_the_limiter_wait_without_using_attempts(rt: Runtime, sandbox: SandboxClient,
                                                               sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, limits={"rate_per_s": 2, "burst": 1})
    ids = []
    for i in range(3):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"ORD-{i}", state="cancellable")
        ids.append(_submit(rt, "shopee", shop, f"ORD-{i}"))
    for job_id in ids:
        JobRun(rt, job_id).run()
    states = [_state(rt, j) for j in ids]
    assert states[0].state == "succeeded"
    assert all(s.state == "waiting" and s.attempts == 0 for s in states[1:])
    assert {s.events[-1]["why"] for s in states[1:]} == {"rate_limit"}
    while not all(_state(rt, j).final for j in ids):
        _run_when_due(rt, next(j for j in ids if not _state(rt, j).final))
    assert all(_state(rt, j).state == "succeeded" and _state(rt, j).attempts == 0 for j in ids)
    assert sandbox.stats()["calls"]["shopee"]["cancel_order"] == 3


def test_circuit_opens_holds_probes_and_closes(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPLINE, sandbox, rt.shops, sandbox_url)
    for i in range(3):
        sandbox.add_order("shopline", SHOPLINE.shop_ref, f"ORD-{i}", state="cancellable")
    sandbox.fault("shopline", "error", endpoint="cancel_order", http_status=503, times=None)
    first, second, third = (_submit(rt, "shopline", shop, f"ORD-{i}") for i in range(3))
    JobRun(rt, first).run()
    JobRun(rt, second).run()
    assert controls.snapshot(rt.redis).open_circuits == [f"shopline:{shop}"]
    calls = sandbox.stats()["calls"]["shopline"]["cancel_order"]
    JobRun(rt, third).run()
    held = _state(rt, third)
    assert held.state == "waiting" and held.attempts == 0 and held.events[-1]["why"] == "circuit_open"
    assert sandbox.stats()["calls"]["shopline"]["cancel_order"] == calls, "an open circuit lets nothing through"
    sandbox.clear_faults()
    _run_when_due(rt, third)
    assert _state(rt, third).state == "succeeded"
    assert controls.snapshot(rt.redis).open_circuits == []
    for job_id in (first, second):
        while not _state(rt, job_id).final:
            _run_when_due(rt, job_id)
        assert _state(rt, job_id).state == "succeeded"


def test_a_store_lock_opens_the_circuit_at_once(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPLINE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopline", SHOPLINE.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault("shopline", "error", endpoint="cancel_order", http_status=423)
    job_id = _submit(rt, "shopline", shop, "ORD-1")
    JobRun(rt, job_id).run()
    assert _state(rt, job_id).state == "waiting"
    assert controls.snapshot(rt.redis).open_circuits == [f"shopline:{shop}"]


def test_pause_stops_write_calls_and_resume_continues(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("lazada", LAZADA.shop_ref, "ORD-1", state="cancellable")
    controls.pause(rt.redis, controls.scope_name("shop", f"lazada/{shop}"), "incident 42")
    job_id = _submit(rt, "lazada", shop, "ORD-1")
    for _ in range(3):
        JobRun(rt, job_id).run()
        record = _state(rt, job_id)
        assert record.state == "waiting" and record.attempts == 0 and record.inflight == ""
        assert record.events[-1]["why"] == f"paused:shop:lazada/{shop}"
        wait_until(lambda: (_state(rt, job_id).due_at or 0) <= now_ms(), what="the paused job to look again")
    assert "InitReverseOrderCancel" not in sandbox.order("lazada", "ORD-1")["calls"]
    assert controls.resume(rt.redis, f"shop:lazada/{shop}")
    JobRun(rt, job_id).run()
    assert _state(rt, job_id).state == "succeeded"
    assert sandbox.order("lazada", "ORD-1")["cancels_applied"] == 1


def test_pause_resume_and_status_commands(redis_client: redis.Redis) -> None:
    reset_runtime()
    runner = CliRunner()
    assert runner.invoke(cli_app, ["pause", "--platform", "shopee", "--reason", "maintenance"]).exit_code == 0
    unknown = runner.invoke(cli_app, ["pause", "--campaign", "black-friday"])
    assert unknown.exit_code == 2 and "no campaign black-friday" in unknown.output
    result = runner.invoke(cli_app, ["status"])
    assert result.exit_code == 0 and "platform:shopee: paused" in result.output and "maintenance" in result.output
    assert "campaign:black-friday" not in result.output
    assert runner.invoke(cli_app, ["resume", "--platform", "shopee"]).exit_code == 0
    refused = runner.invoke(cli_app, ["resume", "--platform", "shopee"])
    assert refused.exit_code == 1 and "was not paused" in refused.output
    assert runner.invoke(cli_app, ["pause"]).exit_code == 2
    assert Settings().short_wait_s > 0


def test_an_app_wide_limit_holds_all_its_shops_together(rt: Runtime, sandbox: SandboxClient,
                                                        sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    registered = rt.shops.get("shopee", shop)
    assert registered is not None
    limits = {"rate_per_s": 100, "burst": 10, "app": {"rate_per_s": 0.5, "burst": 2}}
    rt.shops.add("shopee", shop, registered.credentials, registered.base_url, limits)
    rt.shops.add("shopee", "sister-shop", registered.credentials, registered.base_url, limits)
    ids = []
    for i, name in enumerate([shop, "sister-shop", shop]):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"APP-{i}", state="cancellable")
        ids.append(_submit(rt, "shopee", name, f"APP-{i}"))
    for job_id in ids:
        JobRun(rt, job_id).run()
    assert [_state(rt, j).state for j in ids] == ["succeeded", "succeeded", "waiting"]
    assert _state(rt, ids[2]).events[-1]["why"] == "rate_limit"


def test_the_gate_takes_a_lease_only_from_a_fresh_job_recorded_as_its_message_says(
        redis_client: redis.Redis) -> None:
    from cancelq.gate.limits import BeginHere, Lease
    from cancelq.jobs.contract import parse_job
    from cancelq.jobs.ledger import Ledger

    ledger, gate = Ledger(redis_client), Gate(redis_client)
    job = parse_job({"platform": "shopee", "shop": "s", "order_id": "1", "reason": "CUSTOMER_REQUEST"})
    job_id = ledger.intake(job).job_id
    as_recorded = str(redis_client.hget(keys.job(job_id), "job"))

    def first_call(job_json: str) -> Any:
        return gate.check(limits=[("s", Limit(1, 1))], cooldowns=[], circuits=[], job_id=job_id,
                          begin=BeginHere(job_json), lease=Lease(60_000, 60_000))

    refused = first_call(as_recorded.replace('"1"', '"2"'))
    assert refused.record is None and not refused.allowed and refused.why == "begin"
    assert not redis_client.hexists(keys.GATE, keys.tat_field("s"))
    assert redis_client.hget(keys.job(job_id), "state") == "queued"
    taken = first_call(as_recorded)
    assert taken.allowed and taken.record is not None and taken.record["state"] == "running"
    assert redis_client.hget(keys.job(job_id), "deliveries") == "1"
    again = first_call(as_recorded)
    assert again.record is None and again.why == "begin", "a job already begun is not begun twice"


def test_resume_does_not_lift_a_campaign_abort(redis_client: redis.Redis) -> None:
    redis_client.hset(keys.GATE, keys.pause_field("campaign:c1"), '{"at": 1, "reason": "stop", "abort": true}')
    assert not controls.resume(redis_client, "campaign:c1")
    mark = WriteMark("cancel", controls.job_scopes({"platform": "shopee", "shop": "s",
                                                                     "campaign_id": "c1"}))
    held = Gate(redis_client).check(limits=[], cooldowns=[], circuits=[], job_id="J-1", mark=mark)
    assert held.paused is not None and held.paused[0] == "campaign:c1" and controls.is_abort(held.paused[1])
