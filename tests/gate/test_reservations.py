"""A call the limiter holds reserves its slot: each held call is deferred once, in arrival order, and goes in
its own slot without taking another (against a real Valkey)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cancelq.core import keys
from cancelq.core.settings import get_settings
from cancelq.gate import controls
from cancelq.gate.delivery import Deferred
from cancelq.gate.limits import Gate, Limit, Reservation, Verdict, WriteMark
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.helpers import add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE

SCOPE = "shopee:1:reserved"
LIMIT = Limit(rate_per_s=1.0, burst=1)  # a slot a second: a slow machine cannot reach the next one mid-test


def _call(gate: Gate, *, reserve: bool = True, reservation: Reservation | None = None,
          limits: list[tuple[str, Limit]] | None = None) -> Verdict:
    return gate.check(limits=limits or [(SCOPE, LIMIT)], cooldowns=[], circuits=[], job_id="j", reserve=reserve,
                      reservation=reservation)


def _tat(client: redis.Redis, scope: str = SCOPE) -> float:
    return float(client.hget(keys.GATE, keys.tat_field(scope)) or 0)


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_held_calls_reserve_consecutive_slots_in_arrival_order(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    assert _call(gate).allowed
    second, third = _call(gate), _call(gate)
    assert not second.allowed and not third.allowed
    assert second.reservation is not None and third.reservation is not None
    assert third.reservation.at_ms - second.reservation.at_ms == 1000
    assert second.reservation.scopes == (SCOPE,)
    assert 0 < second.wait_s <= 1.0 and third.wait_s > second.wait_s


def test_a_call_that_does_not_ask_to_reserve_takes_nothing_when_held(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    assert _call(gate).allowed
    before = _tat(redis_client)
    held = _call(gate, reserve=False)
    assert not held.allowed and held.reservation is None
    assert _tat(redis_client) == before


def test_a_reserved_call_goes_in_its_slot_without_taking_another(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    assert _call(gate).allowed
    held = _call(gate)
    assert held.reservation is not None
    reserved_tat = _tat(redis_client)

    early = _call(gate, reservation=held.reservation)  # back before its slot: it waits for it, keeping it
    assert not early.allowed and early.reservation == held.reservation
    assert _tat(redis_client) == reserved_tat

    due = Reservation(_server_ms(redis_client) - 1, held.reservation.scopes)  # its slot has come
    assert _call(gate, reservation=due).allowed
    assert _tat(redis_client) == reserved_tat


def test_a_reservation_long_past_its_slot_is_a_new_call(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    assert _call(gate).allowed
    before = _tat(redis_client)
    stale = Reservation(_server_ms(redis_client) - 60_000, (SCOPE,))
    again = _call(gate, reservation=stale)
    assert not again.allowed and again.reservation is not None
    assert _tat(redis_client) == pytest.approx(before + 1000)


def test_only_the_limits_that_hold_a_call_are_reserved(redis_client: redis.Redis) -> None:
    gate = Gate(redis_client)
    wide = ("shopee:1", Limit(rate_per_s=1000.0, burst=100))
    limits = [(SCOPE, LIMIT), wide]
    assert _call(gate, limits=limits).allowed
    wide_before = _tat(redis_client, wide[0])
    held = _call(gate, limits=limits)
    assert held.reservation is not None and held.reservation.scopes == (SCOPE,)
    assert _tat(redis_client, wide[0]) == wide_before  # the app-wide limit is taken when the call goes


def test_a_reservation_survives_its_encoding_and_garbage_is_none() -> None:
    reservation = Reservation(1_764_590_000_123, ("shopee:1:a", "shopee:1"))
    assert Reservation.decode(reservation.encoded()) == reservation
    assert Reservation.decode("") is None
    assert Reservation.decode("not json") is None
    assert Reservation.decode('{"at": 1}') is None


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime(settings=get_settings())
    yield runtime
    runtime.session.close()


def test_each_job_of_a_limited_shop_is_deferred_once(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, limits={"rate_per_s": 2, "burst": 1})
    ids = []
    for i in range(4):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"ORD-{i}", state="cancellable")
        admitted = admit(rt, {"platform": "shopee", "shop": shop, "order_id": f"ORD-{i}",
                              "reason": "CUSTOMER_REQUEST"})
        ids.append(admitted.job_id)
    for job_id in ids:
        JobRun(rt, job_id).run()
    waiting = [rt.ledger.get(j) for j in ids[1:]]
    slots = [Reservation.decode(r.reservation) for r in waiting if r is not None]
    first = slots[0]
    assert first is not None
    assert [s.at_ms - first.at_ms for s in slots if s is not None] == [0, 500, 1000]
    for job_id in ids[1:]:  # as the pump would send each when its due time comes
        wait_until(lambda: _due(rt, job_id), timeout_s=10, what=f"{job_id} to fall due")
        JobRun(rt, job_id).run()
    records = [rt.ledger.get(j) for j in ids]
    assert [r.state for r in records if r is not None] == ["succeeded"] * 4
    assert [sum(1 for e in r.events if e["event"] == "retry") for r in records if r is not None] == [0, 1, 1, 1]
    assert sandbox.stats()["calls"]["shopee"]["cancel_order"] == 4


def _due(rt: Runtime, job_id: str) -> bool:
    record = rt.ledger.get(job_id)
    return record is not None and (record.due_at or 0) <= now_ms()


def test_a_call_stopped_before_its_slot_gives_the_slot_back(redis_client: redis.Redis) -> None:
    """An aborted campaign's jobs are called forward and stopped by the abort: their slots free the shop."""
    gate = Gate(redis_client)
    assert _call(gate).allowed
    before = _tat(redis_client)
    held = _call(gate)
    assert held.reservation is not None and _tat(redis_client) == pytest.approx(before + 1000)
    controls.pause(redis_client, "campaign:c1", "aborted")
    stopped = gate.check(limits=[(SCOPE, LIMIT)], cooldowns=[], circuits=[], job_id="j", reserve=True,
                         reservation=held.reservation, mark=WriteMark("cancel", ["campaign:c1"]))
    assert stopped.paused is not None and stopped.reservation is None
    assert _tat(redis_client) == pytest.approx(before)
    again = _call(gate)  # the next call gets the slot given back
    assert again.reservation is not None and again.reservation.at_ms == held.reservation.at_ms


def test_a_call_that_cannot_come_back_for_a_slot_takes_none(rt: Runtime, sandbox: SandboxClient,
                                                             sandbox_url: str) -> None:
    """The push processor's reads are no job's: held by the limit, they reserve nothing (a job's call does)."""
    shop = rt.shops.get("shopee", add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url,
                                               limits={"rate_per_s": 1, "burst": 1}))
    assert shop is not None
    scope = rt.shop_limits(shop).scope_for("get_order_detail")
    for reserve in (False, True):
        gate = rt.delivery_gate(shop, f"push-{reserve}", reserve=reserve)
        gate.for_step(write_step=None)
        if not reserve:
            gate("get_order_detail")  # the burst's one call
        before = _tat(rt.redis, scope)
        with pytest.raises(Deferred) as held:
            gate("get_order_detail")
        assert (held.value.reservation is not None) is reserve
        assert (_tat(rt.redis, scope) > before) is reserve
