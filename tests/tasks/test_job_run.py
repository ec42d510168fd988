"""The task's run loop, in this process, against a real Valkey and the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from cancelq.core import keys
from cancelq.gate.delivery import LeaseLost
from cancelq.jobs.deadletters import DeadFilter
from cancelq.jobs.delayed import Delayed, Pump
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import Fenced, Ledger, now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.cancel import accept_message
from cancelq.tasks.run import JobRun
from tests.deliveries import hint, run_until_final
from tests.helpers import add_kit_shop, wait_until
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

KITS = [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA]


@pytest.fixture(params=KITS, ids=lambda k: k.platform)
def kit(request: pytest.FixtureRequest) -> Kit:
    return request.param  # type: ignore[no-any-return]


def _job(kit: Kit, shop: str, order_id: str = "ORD-1", **extra: Any) -> dict[str, Any]:
    return {"platform": kit.platform, "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST",
            "note": "test", **extra}


def _submit(rt: Runtime, job: dict[str, Any], **kw: Any) -> str:
    admitted = admit(rt, job, **kw)
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


@pytest.mark.parametrize("state, outcome", [("cancellable", "succeeded"), ("cancelled", "already_cancelled"),
                                            ("shipped", "dead")])
def test_every_outcome(kit: Kit, state: str, outcome: str, rt: Runtime, sandbox: SandboxClient,
                       sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state=state)
    record = run_until_final(rt, _submit(rt, _job(kit, shop)))
    assert record.state == outcome
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == (1 if outcome == "succeeded" else 0)
    if outcome == "dead":
        entry = rt.dead_letters.show(record.job_id)
        assert entry is not None and entry["kind"] == "permanent"
        assert entry["job"]["order_id"] == "ORD-1" and entry["error"]["platform"] == kit.platform


def test_rejected_jobs_are_recorded_with_their_reason(kit: Kit, rt: Runtime, sandbox: SandboxClient,
                                                      sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    cases = {
        "unknown shop": _job(kit, "no-such-shop"),
        "bad reason": {**_job(kit, shop), "reason": "BECAUSE"},
        "missing order": {"platform": kit.platform, "shop": shop, "reason": "OTHER"},
        "typo field": {**_job(kit, shop), "ordr_id": "1"},
    }
    ids = set()
    for what, job in cases.items():
        admitted = admit(rt, job)
        assert admitted.rejected, what
        record = rt.ledger.get(admitted.job_id)
        assert record is not None and record.state == "rejected" and record.reject_reason, what
        ids.add(admitted.job_id)
    assert {r.job_id for r in rt.ledger.rejected()} == ids
    assert "no-such-shop" in rt.ledger.get(admit(rt, cases["unknown shop"]).job_id).reject_reason


def test_raw_messages_that_are_not_one_object_are_rejected(rt: Runtime) -> None:
    assert accept_message(rt, (1, 2), {}) is None
    assert accept_message(rt, (), {"platform": "shopee"}) is None
    assert accept_message(rt, ("not a job",), {}) is None
    rejected = rt.ledger.rejected()
    assert len(rejected) == 3
    assert all("exactly one argument" in r.reject_reason for r in rejected)


def test_shopee_reason_it_cannot_say_is_rejected_before_any_call(rt: Runtime, sandbox: SandboxClient,
                                                                 sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    admitted = admit(rt, {**_job(SHOPEE, shop), "reason": "PRICING_ERROR"})
    assert admitted.rejected and "Shopee has no cancel reason for PRICING_ERROR" in admitted.reason
    assert sandbox.stats()["calls"] == {}


def test_duplicate_submissions_share_one_job(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    first = admit(rt, _job(SHOPEE, shop))
    again = admit(rt, _job(SHOPEE, shop))
    assert first.created and not again.created and again.job_id == first.job_id
    assert run_until_final(rt, first.job_id).state == "succeeded"
    after = admit(rt, _job(SHOPEE, shop))
    assert not after.created and after.state == "succeeded"
    forced = admit(rt, _job(SHOPEE, shop), force=True)
    assert forced.created and forced.job_id == first.job_id
    assert run_until_final(rt, forced.job_id).state == "already_cancelled"
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1

    idem = rt.redis.ttl(keys.idempotency(f"shopee/{shop}/ORD-1"))
    assert 0 < idem <= rt.settings.ledger_ttl_s, "the idempotency key lives ledger_ttl_s from intake"


def test_a_lease_is_held_until_it_expires_renewed_by_its_holder_and_fenced_after(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    job_id = _submit(rt, _job(SHOPEE, shop))
    first = rt.ledger.begin(job_id)
    assert first.kind == "run" and first.record is not None and first.record.lease_until is not None
    assert rt.ledger.begin(job_id).kind == "busy", "a second delivery must not run a leased job"
    record = first.record
    registered = rt.shops.get("shopee", shop)
    assert registered is not None
    gate = rt.delivery_gate(registered, job_id)
    gate.hold(record.fence)
    lease = rt.redis.hget(keys.job(job_id), "lease_until")
    gate("get_order_detail")
    assert rt.redis.hget(keys.job(job_id), "lease_until") == lease, "a fresh lease is not renewed on every call"
    rt.redis.hset(keys.job(job_id), "lease_until", now_ms() + rt.ledger.lease_ms // 3)  # two thirds used up
    before = now_ms()
    gate("get_order_detail")
    assert int(rt.redis.hget(keys.job(job_id), "lease_until")) >= before + rt.ledger.lease_ms  # type: ignore[arg-type]
    rt.redis.hset(keys.job(job_id), "lease_until", now_ms() - 1)  # its holder paused past it: the lease ran out
    again = rt.ledger.begin(job_id)
    assert again.kind == "run" and again.record is not None and again.record.deliveries == 2
    assert int(again.record.fence) == int(record.fence) + 1
    with pytest.raises(LeaseLost):
        gate("cancel_order")
    with pytest.raises(Fenced):
        rt.ledger.finish(record, state="succeeded", fields={}, event={})
    with pytest.raises(Fenced):
        rt.ledger.wait(record, due_ms=now_ms(), fields={})
    assert rt.redis.hget(keys.job(job_id), "state") == "running"
    rt.ledger.finish(again.record, state="succeeded", fields={}, event={})
    with pytest.raises(Fenced):
        rt.ledger.wait(again.record, due_ms=now_ms(), fields={})  # final: even the holder's token writes nothing


def test_transient_faults_are_retried_to_success(kit: Kit, rt: Runtime, sandbox: SandboxClient,
                                                 sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault(kit.platform, "html", endpoint=kit.write_endpoint, times=2)
    record = run_until_final(rt, _submit(rt, _job(kit, shop)))
    assert record.state == "succeeded"
    assert record.attempts == 2
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 1


def test_ambiguous_write_is_reconciled_not_repeated(kit: Kit, rt: Runtime, sandbox: SandboxClient,
                                                    sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault(kit.platform, "drop", endpoint=kit.write_endpoint, after_write=True)
    record = run_until_final(rt, _submit(rt, _job(kit, shop)))
    assert record.state == "succeeded"
    view = sandbox.order(kit.platform, "ORD-1")
    assert view["cancels_applied"] == 1
    assert view["calls"][kit.write_endpoint] == 1
    assert any(e["event"] == "succeeded" for e in record.events)


def test_rate_limit_waits_its_ban_without_using_an_attempt(rt: Runtime, sandbox: SandboxClient,
                                                           sandbox_url: str) -> None:
    shop = add_kit_shop(LAZADA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("lazada", LAZADA.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault("lazada", "error", endpoint="InitReverseOrderCancel", code="ApiCallLimit", ban_s=2)
    job_id = _submit(rt, _job(LAZADA, shop))
    before = now_ms()
    JobRun(rt, job_id).run()
    waiting = rt.ledger.get(job_id)
    assert waiting is not None and waiting.state == "waiting"
    assert waiting.due_at is not None and waiting.due_at - before >= 2000
    assert waiting.attempts == 0
    record = run_until_final(rt, job_id)
    assert record.state == "succeeded" and record.attempts == 0


def test_retry_after_header_is_honoured(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPLINE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopline", SHOPLINE.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault("shopline", "error", endpoint="cancel_order", http_status=429, retry_after_s=3)
    job_id = _submit(rt, _job(SHOPLINE, shop))
    before = now_ms()
    JobRun(rt, job_id).run()
    waiting = rt.ledger.get(job_id)
    assert waiting is not None and waiting.state == "waiting" and waiting.attempts == 0
    assert waiting.due_at is not None and waiting.due_at - before >= 3000


def test_exhausted_transient_goes_dead_and_replays_after_the_fault_clears(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    from cancelq.client import CancelQ

    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_network",
                  message="Inner http call failed", times=None)
    record = run_until_final(rt, _submit(rt, _job(SHOPEE, shop)))
    assert record.state == "dead" and record.dead_kind == "exhausted"
    assert record.attempts == rt.settings.max_attempts
    entry = rt.dead_letters.show(record.job_id)
    assert entry is not None and entry["kind"] == "exhausted" and entry["error"]["code"] == "error_network"
    assert [e["job_id"] for e in rt.dead_letters.list(DeadFilter(code="error_network"))] == [record.job_id]
    assert rt.dead_letters.list(DeadFilter(kind="permanent")) == []
    sandbox.clear_faults()
    client = CancelQ(rt)
    handle = client.submit(entry["job"], force=True, source="replay")
    rt.dead_letters.remove([record.job_id])
    assert handle.job_id == record.job_id and handle.created
    replayed = run_until_final(rt, handle.job_id)
    assert replayed.state == "succeeded" and replayed.runs == 2
    assert rt.dead_letters.size() == 0
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1


def test_poison_job_is_dead_lettered(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = _submit(rt, _job(SHOPEE, shop))
    rt.ledger.lease_ms = 0
    for _ in range(rt.settings.poison_deliveries):
        assert rt.ledger.begin(job_id).kind == "run"
    JobRun(rt, job_id).run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "dead" and record.dead_kind == "poison"
    assert sandbox.stats()["calls"] == {}


def test_expired_token_without_a_refresh_token_parks_until_new_credentials(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPLAZZA, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shoplazza", SHOPLAZZA.shop_ref, "ORD-1", state="cancellable")
    sandbox.expire_token("shoplazza", SHOPLAZZA.shop_ref)
    job_id = _submit(rt, _job(SHOPLAZZA, shop))
    JobRun(rt, job_id).run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "waiting" and record.attempts == 0
    assert record.last_error is not None and record.last_error["error_class"] == "ReauthRequired"
    registered = rt.shops.get("shoplazza", shop, fresh=True)
    assert registered is not None and registered.needs_reauth
    new = {**SHOPLAZZA.credentials, "access_token": "renewed-token-123456"}
    sandbox.add_shop("shoplazza", **{**SHOPLAZZA.shop_spec, "access_token": "renewed-token-123456"})
    rt.shops.set_tokens(registered, new, None)
    assert run_until_final(rt, job_id).state == "succeeded"


def test_dead_letter_export_and_purge(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    for i in range(3):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"ORD-{i}", state="shipped")
        run_until_final(rt, _submit(rt, _job(SHOPEE, shop, f"ORD-{i}")))
    csv_lines = list(rt.dead_letters.export(fmt="csv"))
    assert csv_lines[0].startswith("job_id,kind,platform") and len(csv_lines) == 4
    jsonl = list(rt.dead_letters.export(fmt="jsonl"))
    assert len(jsonl) == 3 and all('"kind":"permanent"' in line for line in jsonl)
    assert rt.dead_letters.purge(DeadFilter(shop="other")) == 0
    assert rt.dead_letters.purge(DeadFilter(platform="shopee")) == 3
    assert rt.dead_letters.size() == 0


def test_a_message_the_pump_sent_and_the_broker_lost_is_sent_again(rt: Runtime, sandbox: SandboxClient,
                                                                    sandbox_url: str) -> None:
    """The pump's claim on a job it re-sent stays until a worker begins the job: a message lost on its way (a
    worker killed between taking it and beginning) is sent again when the claim expires, and only then."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    job_id = _submit(rt, _job(SHOPEE, shop))
    begun = rt.ledger.begin(job_id)
    assert begun.record is not None
    rt.ledger.wait(begun.record, due_ms=now_ms() - 1, fields={})
    delayed = Delayed(rt.redis, claim_ms=300)
    lost: list[str] = []
    assert Pump(delayed, lost.append).pump_once() == 1 and lost == [job_id]
    assert delayed.claim_due() == [], "claimed: not sent twice while the message may still arrive"
    wait_until(lambda: delayed.claim_due() == [job_id], timeout_s=5, what="the lost message to be sent again")
    assert rt.ledger.begin(job_id).kind == "run"
    assert rt.redis.zscore(keys.CLAIMED, job_id) is None, "begin settles the claim"
    rt.redis.zadd(keys.CLAIMED, {job_id: now_ms() - 1})  # a stale duplicate claim: begin saw the job before
    JobRun(rt, job_id).run()  # a leftover message, while the job runs: busy, and the claim is settled
    assert rt.redis.zscore(keys.CLAIMED, job_id) is None


def test_a_running_jobs_timer_follows_its_lease_and_hands_it_over_when_the_lease_runs_out(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    """No lease index is written per job: the safety net set at intake stays while the job runs, and when it
    comes due the pump reads the lease in the job and looks again at its expiry, or sends the job on if its
    holder died. A job that ended loses its timer."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    job_id = _submit(rt, _job(SHOPEE, shop))
    begun = rt.ledger.begin(job_id)
    assert begun.kind == "run" and begun.record is not None and begun.record.lease_until is not None
    delayed = Delayed(rt.redis, claim_ms=60_000)
    rt.redis.zadd(keys.DELAYED, {job_id: now_ms() - 1})  # the safety net comes due while the job runs
    assert delayed.claim_due() == [], "a live lease is not sent again"
    assert rt.redis.zscore(keys.DELAYED, job_id) == begun.record.lease_until
    rt.redis.hset(keys.job(job_id), "lease_until", now_ms() - 1)  # its holder died and the lease ran out
    rt.redis.zadd(keys.DELAYED, {job_id: now_ms() - 1})
    assert delayed.claim_due() == [job_id]
    taken = rt.ledger.begin(job_id)
    assert taken.kind == "run" and taken.record is not None and taken.record.deliveries == 2
    assert rt.redis.zscore(keys.DELAYED, job_id) == taken.record.lease_until, "a taken-over job gets a timer"
    rt.ledger.finish(taken.record, state="succeeded", fields={}, event={})
    rt.redis.zadd(keys.DELAYED, {job_id: now_ms() - 1})  # a timer left by a partial write
    assert delayed.claim_due() == [] and rt.redis.zscore(keys.DELAYED, job_id) is None


def test_a_fresh_job_whose_message_carries_it_is_begun_by_its_first_gate_call(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    """One round trip less per delivery: the first call's gate script takes the lease, and the record the task
    goes on with is the ledger's (its creation time, its events), not the message's."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = _submit(rt, _job(SHOPEE, shop))
    created = rt.ledger.get(job_id).created_at  # type: ignore[union-attr]
    run = JobRun(rt, job_id, hint(rt, job_id))
    run.run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "succeeded" and record.deliveries == 1
    assert record.created_at == created and run.rec.created_at == created
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1


def test_a_message_whose_job_is_not_the_ledgers_runs_the_ledgers(rt: Runtime, sandbox: SandboxClient,
                                                                 sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    for order in ("ORD-1", "ORD-2"):
        sandbox.add_order("shopee", SHOPEE.shop_ref, order, state="cancellable")
    job_id = _submit(rt, _job(SHOPEE, shop, "ORD-1"))
    JobRun(rt, job_id, {**hint(rt, job_id), "order_id": "ORD-2"}).run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "succeeded" and record.job["order_id"] == "ORD-1"
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1
    assert sandbox.order("shopee", "ORD-2")["cancels_applied"] == 0


def test_a_message_carrying_a_job_that_runs_elsewhere_or_ended_changes_nothing(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = _submit(rt, _job(SHOPEE, shop))
    carried = hint(rt, job_id)
    assert rt.ledger.begin(job_id).kind == "run"  # another worker holds the lease
    JobRun(rt, job_id, carried).run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "running" and record.deliveries == 1
    assert sandbox.order("shopee", "ORD-1")["calls"] == {}
    rt.redis.hset(keys.job(job_id), "lease_until", now_ms() - 1)
    run_until_final(rt, job_id)
    JobRun(rt, job_id, carried).run()
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1
    assert rt.ledger.get(job_id).deliveries == 2  # type: ignore[union-attr]


def test_a_first_call_held_by_a_pause_leaves_the_job_waiting_on_the_ledgers_record(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    from cancelq.gate import controls

    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = _submit(rt, _job(SHOPEE, shop))
    created = rt.ledger.get(job_id).created_at  # type: ignore[union-attr]
    controls.pause(rt.redis, controls.scope_name("shop", f"shopee/{shop}"), "test")
    JobRun(rt, job_id, hint(rt, job_id)).run()
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "waiting" and record.created_at == created
    assert record.inflight == "" and record.attempts == 0 and record.events[-1]["why"].startswith("paused")
    assert rt.redis.zscore(keys.DELAYED, job_id) == record.due_at
    assert sandbox.order("shopee", "ORD-1")["calls"] == {}


def test_a_lease_shorter_than_the_safety_net_gets_its_own_timer(rt: Runtime, sandbox: SandboxClient,
                                                                sandbox_url: str) -> None:
    """Taken by ``begin`` or by the first gate call, a lease that ends before the job's safety net moves the
    job's timer to its expiry, so a dead holder's job is taken over then, not at the safety net."""
    from cancelq.gate.limits import BeginHere, Gate, Lease, Limit
    from cancelq.jobs.contract import parse_job

    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    ledger = Ledger(rt.redis, lease_ms=5_000, safety_net_ms=60_000)
    classic = ledger.intake(parse_job(_job(SHOPEE, shop, "ORD-1"))).job_id
    taken = ledger.begin(classic)
    assert taken.record is not None and rt.redis.zscore(keys.DELAYED, classic) == taken.record.lease_until
    fused = ledger.intake(parse_job(_job(SHOPEE, shop, "ORD-2"))).job_id
    verdict = Gate(rt.redis).check(limits=[("s", Limit(100, 10))], cooldowns=[], circuits=[], job_id=fused,
                                   begin=BeginHere(str(rt.redis.hget(keys.job(fused), "job"))),
                                   lease=Lease(5_000, 60_000))
    assert verdict.allowed and verdict.record is not None
    assert rt.redis.zscore(keys.DELAYED, fused) == int(verdict.record["lease_until"])
    long_lease = Ledger(rt.redis, lease_ms=60_000, safety_net_ms=60_000)
    plain = long_lease.intake(parse_job(_job(SHOPEE, shop, "ORD-3"))).job_id
    net = rt.redis.zscore(keys.DELAYED, plain)
    long_lease.begin(plain)
    assert rt.redis.zscore(keys.DELAYED, plain) == net, "a lease that outlasts the safety net writes no timer"


def test_pauses_and_leases_kept_by_an_older_version_are_adopted_once(rt: Runtime) -> None:
    from cancelq.gate import controls
    from cancelq.gate.limits import Gate, WriteMark
    from cancelq.worker.upgrade import OLD_LEASES, OLD_PAUSES, adopt_old_keys

    now = now_ms()
    rt.redis.hset(OLD_PAUSES, "shop:shopee/s1", '{"at": 1, "reason": "old"}')
    rt.redis.zadd(OLD_LEASES, {"running-1": now - 1_000, "running-2": now + 60_000})
    rt.redis.zadd(keys.DELAYED, {"running-2": now + 5_000})  # its safety net comes first: it stays
    assert adopt_old_keys(rt.redis) == 3
    held = Gate(rt.redis).check(limits=[], cooldowns=[], circuits=[], job_id="j",
                                mark=WriteMark("cancel", ["all", "shop:shopee/s1"]))
    assert held.paused is not None and held.paused[0] == "shop:shopee/s1"
    assert controls.snapshot(rt.redis).paused == ["shop:shopee/s1"]
    assert rt.redis.zscore(keys.DELAYED, "running-1") == now - 1_000
    assert rt.redis.zscore(keys.DELAYED, "running-2") == now + 5_000
    assert not rt.redis.exists(OLD_PAUSES, OLD_LEASES) and adopt_old_keys(rt.redis) == 0


@pytest.mark.parametrize("retry_after_s, told", [(None, False), (3, True)])
def test_only_a_wait_worth_seeing_is_told_to_celery_as_a_retry(rt: Runtime, sandbox: SandboxClient,
                                                                sandbox_url: str, retry_after_s: float | None,
                                                                told: bool) -> None:
    """A 429 without Retry-After waits default_rate_limit_wait_s (0.2 s in the tests): no RETRY row in Flower."""
    from celery.exceptions import Retry

    shop = add_kit_shop(SHOPLINE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopline", SHOPLINE.shop_ref, "ORD-1", state="cancellable")
    extra = {} if retry_after_s is None else {"retry_after_s": retry_after_s}
    sandbox.fault("shopline", "error", endpoint="cancel_order", http_status=429, **extra)
    run = JobRun(rt, _submit(rt, _job(SHOPLINE, shop)))
    run.run()
    assert rt.ledger.get(run.job_id).state == "waiting"  # type: ignore[union-attr]
    assert isinstance(run.ending, Retry) if told else run.ending is None
