"""A record that cannot be wrong: writes fenced by the lease, outcomes final, attribution from evidence.

Each test is a finding of issue 12 that the ledger got wrong before writes carried their lease's fencing
token: a stale delivery's writes, a refused write credited as ours, a garbled answer to an applied write.
"""

from __future__ import annotations

import pytest

from cancelq.core import keys
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.deliveries import hint, run_until_final
from tests.helpers import add_kit_shop
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

KITS = [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA]


def _submit(rt: Runtime, kit: Kit, shop: str, order_id: str = "ORD-1") -> str:
    admitted = admit(rt, {"platform": kit.platform, "shop": shop, "order_id": order_id,
                          "reason": "CUSTOMER_REQUEST", "note": "test"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def _stale_delivery(rt: Runtime, job_id: str) -> JobRun:
    """A delivery that took the job's lease and was then paused past it (its lease ran out)."""
    stale = JobRun(rt, job_id)
    assert stale.begin()
    rt.redis.hset(keys.job(job_id), "lease_until", now_ms() - 1)
    return stale


def test_a_stale_wait_after_a_dead_letter_changes_nothing(rt: Runtime, sandbox: SandboxClient,
                                                          sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="shipped")
    job_id = _submit(rt, SHOPEE, shop)
    stale = _stale_delivery(rt, job_id)
    dead = run_until_final(rt, job_id, first_hint=False)
    assert dead.state == "dead" and rt.dead_letters.show(job_id) is not None
    stale.wait_record({"error_class": "TransientError", "code": "error_server"}, 0.01, True, "transient")
    stale.finish("succeeded", attribution="confirmed")
    stale.reject("stale")
    assert stale.fenced and stale.ending is None
    assert rt.ledger.get(job_id) == dead, "a stale delivery's writes must change nothing"
    assert rt.dead_letters.show(job_id) is not None
    assert rt.redis.zscore(keys.DELAYED, job_id) is None, "no timer may bring the dead job back"


def test_a_successor_takes_a_new_fencing_token_and_the_old_one_is_refused_by_the_gate(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = _submit(rt, SHOPEE, shop)
    stale = _stale_delivery(rt, job_id)
    done = run_until_final(rt, job_id, first_hint=False)
    assert done.state == "succeeded" and done.attribution == "confirmed" and int(done.fence) == 2
    stale.run_recorded()  # the stale delivery wakes up and runs its flow: its first gate call is refused
    assert stale.fenced
    assert rt.ledger.get(job_id) == done
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 1


def test_a_refused_write_whose_follow_up_read_the_gate_held_is_not_credited_as_ours(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    """Shopee refuses cancel_order on an order someone else cancelled, and the adapter's follow-up read is held
    by the limiter: the job waits with nothing in flight, so the next delivery cannot take the cancelled order
    for the effect of our write."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    rt.shops.add("shopee", shop, dict(SHOPEE.credentials), base_url=sandbox_url,
                 limits={"rate_per_s": 0.5, "burst": 1})
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancelled")
    job_id = _submit(rt, SHOPEE, shop)
    JobRun(rt, job_id, hint(rt, job_id)).run()
    held = rt.ledger.get(job_id)
    assert held is not None and held.state == "waiting", held
    assert held.inflight == "" and held.write_refused == "cancel"
    rt.shops.add("shopee", shop, dict(SHOPEE.credentials), base_url=sandbox_url)  # the operator lifts the limit
    record = run_until_final(rt, job_id, first_hint=False)
    assert (record.state, record.attribution) == ("already_cancelled", "refused")
    assert sandbox.order("shopee", "ORD-1")["cancels_applied"] == 0


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.platform)
def test_a_garbled_answer_to_an_applied_write_is_reconciled_to_success(
        kit: Kit, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancellable")
    sandbox.fault(kit.platform, "html", endpoint=kit.write_endpoint, after_write=True, http_status=400)
    record = run_until_final(rt, _submit(rt, kit, shop))
    assert (record.state, record.attribution) == ("succeeded", "inferred")
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 1


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.platform)
def test_attribution_says_on_what_evidence_each_outcome_rests(
        kit: Kit, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "OURS", state="cancellable")
    sandbox.add_order(kit.platform, kit.shop_ref, "BEFORE", state="cancelled")
    sandbox.add_order(kit.platform, kit.shop_ref, "TIMEOUT", state="cancellable")
    sandbox.fault(kit.platform, "drop", endpoint=kit.write_endpoint, order_id="TIMEOUT", after_write=True)
    ours = run_until_final(rt, _submit(rt, kit, shop, "OURS"))
    before = run_until_final(rt, _submit(rt, kit, shop, "BEFORE"))
    dropped = run_until_final(rt, _submit(rt, kit, shop, "TIMEOUT"))
    assert (ours.state, ours.attribution) == ("succeeded", "confirmed")
    assert before.state == "already_cancelled" and before.attribution in ("before_us", "refused")
    assert (dropped.state, dropped.attribution) == ("succeeded", "inferred")
    assert sandbox.stats()["cancels_applied"] == 2


@pytest.mark.parametrize("kit", [SHOPEE, SHOPLINE, SHOPLAZZA], ids=lambda k: k.platform)
def test_an_unanswered_write_to_an_order_someone_else_cancelled_is_not_ours(
        kit: Kit, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    """The write gets no usable answer (a 5xx before the platform applied anything) and the order reads
    cancelled: the platform's own evidence (who cancelled, and when) says it was not our cancel."""
    shop = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
    sandbox.add_order(kit.platform, kit.shop_ref, "ORD-1", state="cancelled")
    sandbox.fault(kit.platform, "html", endpoint=kit.write_endpoint, http_status=503)
    record = run_until_final(rt, _submit(rt, kit, shop))
    assert (record.state, record.attribution) == ("already_cancelled", "before_us")
    assert sandbox.order(kit.platform, "ORD-1")["cancels_applied"] == 0


def test_a_message_naming_no_job_is_recorded_as_rejected(rt: Runtime) -> None:
    from cancelq.tasks.cancel import deliver

    assert deliver(rt, ({"job_id": "0123456789abcdef0123"},), {}) is None
    assert deliver(rt, ({"job_id": 5, "job": {}},), {}) is None
    assert deliver(rt, ({"job_id": "../../etc"},), {}) is None
    reasons = sorted(r.reject_reason for r in rt.ledger.rejected())
    assert len(reasons) == 3
    assert sum("the ledger holds no job 0123456789abcdef0123" in r for r in reasons) == 1
    assert sum("a recorded job's id is 1-64 letters and digits" in r for r in reasons) == 2
