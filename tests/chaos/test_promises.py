"""The chaos report's own judges, each shown to fail when its promise is broken: the finality watch (against a
real Valkey), the attribution check and the reading of the workers' logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis

from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord
from tests.chaos import attribution, world
from tests.chaos.watch import FinalityWatch, crashes, log_events

SHOP = world.make_shops(1)[0]


def _order(state: str) -> world.Order:
    return world.Order(SHOP.platform, SHOP, f"PROMISE-{state}", state, "CUSTOMER_REQUEST")


def _record(state: str, attributed: str) -> JobRecord:
    return JobRecord(job_id=f"job-{state}-{attributed}", state=state, job={}, attribution=attributed)


def _view(applied: int) -> dict[str, Any]:
    return {"platform": SHOP.platform, "cancels_applied": applied}


def test_the_watch_flags_a_final_outcome_that_changes_or_vanishes(redis_client: redis.Redis) -> None:
    ids = ["steady", "rewritten", "vanished", "running"]
    for job_id in ids:
        redis_client.hset(keys.job(job_id), mapping={"state": "running"})
    watch = FinalityWatch(redis_client, lambda: ids)
    watch.poll()
    assert watch.first == {}, "a running job has no final outcome yet"
    for job_id in ids[:3]:
        redis_client.hset(keys.job(job_id), mapping={"state": "succeeded", "finished_at": "1000",
                                                      "attribution": "confirmed"})
    watch.poll()
    redis_client.hset(keys.job("rewritten"), mapping={"state": "already_cancelled", "attribution": "refused"})
    redis_client.delete(keys.job("vanished"))
    watch.poll()
    watch.poll()
    assert set(watch.first) == {"steady", "rewritten", "vanished"}
    assert sorted(watch.changed()) == ["rewritten(succeeded/1000/confirmed -> already_cancelled/1000/refused)",
                                       "vanished(succeeded/1000/confirmed -> no record)"]
    assert watch.known == ids and watch.polls == 4


def test_the_watch_counts_the_polls_a_lost_server_made_fail() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    watch = FinalityWatch(unreachable, lambda: ["a"])
    watch.poll()
    assert (watch.polls, watch.failed_polls, watch.changed()) == (0, 1, [])


def test_attribution_holds_only_where_the_sandbox_counted_our_cancel() -> None:
    cases = [
        (_order("cancellable"), _record("succeeded", "confirmed"), _view(1), ""),
        (_order("in_cancel"), _record("succeeded", "inferred"), _view(1), ""),
        (_order("cancelled"), _record("already_cancelled", "before_us"), _view(0), ""),
        (_order("cancelled"), _record("already_cancelled", "refused"), _view(0), ""),
        (_order("cancelled"), _record("succeeded", "inferred"), _view(0), "succeeded, not our cancel"),
        (_order("cancellable"), _record("succeeded", "before_us"), _view(1), "succeeded as before_us"),
        (_order("cancellable"), _record("already_cancelled", "refused"), _view(1),
         "already_cancelled, but our cancel was the one applied"),
        (_order("cancelled"), _record("already_cancelled", "confirmed"), _view(0), "already_cancelled as confirmed"),
        (_order("shipped"), _record("dead", ""), _view(0), ""),
    ]
    for order, record, view, why in cases:
        assert attribution.wrong(order, record, view) == why, (order.state, record.state, record.attribution)


def test_attribution_check_lists_each_contradiction_with_its_evidence() -> None:
    orders = [_order("cancellable"), _order("cancelled")]
    records: dict[tuple[str, str], JobRecord | None] = {
        orders[0].key: _record("succeeded", "confirmed"), orders[1].key: _record("succeeded", "inferred")}
    views = {orders[0].key: _view(1), orders[1].key: _view(0)}
    found, counts = attribution.check(orders, records, views)
    assert found == [f"{SHOP.platform}/PROMISE-cancelled=job-succeeded-inferred(succeeded, not our cancel: seeded "
                     "cancelled, 0 applied, inferred attribution)"]
    assert counts == {"succeeded/confirmed": 1, "succeeded/inferred": 1}


def test_the_workers_logs_give_their_lease_lost_lines_and_crashes(tmp_path: Path) -> None:
    log = tmp_path / "w1.log"
    fenced = {"job_id": "j1", "event": "lease_lost", "timestamp": "2026-12-01T09:59:20.229749Z"}
    log.write_text("\n".join([
        " -------------- chaos1@test v5.7.0",
        json.dumps(fenced),
        json.dumps({"job_id": "j2", "event": "finished", "why": "lease_lost", "timestamp": fenced["timestamp"]}),
        '{"job_id": "j3", "event": "lease_lost", "timest',  # cut short by a SIGKILL
        "[2026-12-01 10:03:46,119: CRITICAL/MainProcess] Unrecoverable error: AttributeError('x')",
    ]) + "\n")
    found = log_events([log, tmp_path / "never-written.log"], "lease_lost")
    assert [(e.log, e.job_id, round(e.at_s)) for e in found] == [(log, "j1", 1796119160)]
    assert crashes([log]) == ["w1: [2026-12-01 10:03:46,119: CRITICAL/MainProcess] Unrecoverable error: "
                              "AttributeError('x')"]
