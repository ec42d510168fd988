"""Worker hosts cut off from Redis, or frozen, while they hold jobs: a Redis host and two worker hosts, each in
its own network namespace (tests/ha/netns.py), the sandbox on the bridge they share.

Worker A takes the first jobs; their cancels are held by the platform (a latency fault) so A is mid-job when
its host is cut off (its veth down) or frozen (SIGSTOP) for longer than the lease. Worker B, on the other
host, takes A's jobs over and finishes the campaign. Then A comes back: whatever it still tries to write is
refused by the fence (``lease_lost``), and nothing it does changes the record or cancels an order twice.

The two partitions that last until the tasks give up on Redis (redis-py's 5 s timeouts) are marked ``slow``
(``-m slow``); the short cut and the pause run in every suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cancelq.client import CancelQ
from cancelq.jobs.ledger import JobRecord
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient, is_cancelled
from cancelq.sandbox.runner import SandboxProcess
from tests.helpers import WorkerProcess, add_kit_shop, unavailable, wait_until
from tests.kits.shopee import KIT as SHOPEE

from .netns import Host, HostValkey, NamespacesUnavailable, Network, unavailable_reason

ORDERS = 40
HELD = 2
"""Jobs worker A holds mid-call when it is cut off: its concurrency, and the cancels the platform holds."""
HOLD_MS = 2000
"""Longer than A's call deadline (half the 3 s lease), shorter than the lease: each held cancel is applied by
the platform after A gave up on it and before B takes the job over, so B's read must repair the outcome."""


@dataclass
class Fleet:
    net: Network
    redis: Host
    a: Host
    b: Host
    redis_url: str
    sandbox: SandboxClient
    sandbox_url: str
    cq: CancelQ


@pytest.fixture()
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    with contextlib.ExitStack() as stack:
        net = Network()
        try:
            stack.enter_context(net)
            redis_host, a, b = (net.add(name) for name in ("redis", "a", "b"))
            net.pin_neighbours()
        except NamespacesUnavailable as exc:
            unavailable(str(exc))
        valkey = HostValkey(redis_host, tmp_path)
        stack.callback(valkey.stop)
        url = valkey.start()
        sandbox_url = stack.enter_context(SandboxProcess(host=net.gateway)).url
        rt = Runtime(redis_url=url)
        stack.callback(rt.session.close)
        yield Fleet(net, redis_host, a, b, url, SandboxClient(sandbox_url), sandbox_url, CancelQ(rt))


@dataclass
class Report:
    jobs: int
    partitions: int
    taken_over: int
    lease_lost: int
    failed_by_network: int
    finished_by_a: int
    repaired: int


def _events(log: Path, event: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == event]


def _lease_lost(log: Path) -> int:
    return len(_events(log, "lease_lost"))


def _failed_by_network(log: Path) -> int:
    """Tasks that ended because Redis could not be reached (Celery logs each one): their writes never landed."""
    text = log.read_text(errors="replace")
    return len(re.findall(r"Task cancelq\.cancel\[[^]]+\] raised unexpected: network:", text))


def _ended(log: Path) -> int:
    return _lease_lost(log) + _failed_by_network(log)


def _held(sandbox: SandboxClient) -> set[str] | None:
    """The orders whose cancel reached the platform, once the HELD held ones have."""
    called = {str(o["order_id"]) for o in sandbox.orders("shopee") if o["calls"].get("cancel_order")}
    return called if len(called) >= HELD else None


def _worker(fleet: Fleet, host: Host, log: Path, concurrency: int) -> WorkerProcess:
    return WorkerProcess(log, fleet.redis_url, concurrency=concurrency, name=host.name, prefix=host.command([]))


def _submit(fleet: Fleet) -> dict[str, str]:
    """The campaign: ORDERS cancellable orders, the first HELD cancels held by the platform; order id -> job id."""
    sandbox, cq = fleet.sandbox, fleet.cq
    shop = add_kit_shop(SHOPEE, sandbox, cq.rt.shops, fleet.sandbox_url)
    orders = [f"NS-{i}" for i in range(ORDERS)]
    sandbox.add_orders([{"platform": "shopee", "shop": SHOPEE.shop_ref, "order_id": o, "state": "cancellable"}
                        for o in orders])
    sandbox.fault("shopee", "latency", endpoint="cancel_order", latency_ms=HOLD_MS, times=HELD)
    return {o: cq.submit({"platform": "shopee", "shop": shop, "order_id": o, "reason": "OUT_OF_STOCK"}).job_id
            for o in orders}


def _final(cq: CancelQ, job_ids: list[str]) -> dict[str, JobRecord] | None:
    records = {j: cq.job(j) for j in job_ids}
    return records if all(r.final for r in records.values()) else None


def _run(fleet: Fleet, tmp_path: Path, *, away: Callable[[WorkerProcess], None],
         back: Callable[[WorkerProcess], None], until_given_up: bool = False) -> Report:
    """A takes the first jobs and is sent ``away`` mid-call; B takes them over; A comes ``back`` (with
    ``until_given_up``, only once its tasks gave up on Redis) and the two finish the campaign."""
    cq, a_log, b_log = fleet.cq, tmp_path / "a.log", tmp_path / "b.log"
    with _worker(fleet, fleet.a, a_log, HELD) as worker_a:
        jobs = _submit(fleet)
        held = set(wait_until(lambda: _held(fleet.sandbox), timeout_s=30,
                              what="worker A's first cancels to reach the platform") or ())
        away(worker_a)
        returned = False
        try:
            with _worker(fleet, fleet.b, b_log, 4):
                taken = wait_until(lambda: _final(cq, [jobs[o] for o in held]), timeout_s=30,
                                   what="worker B to take A's jobs over and finish them")
                if until_given_up:
                    wait_until(lambda: _failed_by_network(a_log) >= HELD, timeout_s=30,
                               what="A's held tasks to give up on Redis")
                back(worker_a)
                returned = True
                wait_until(lambda: _final(cq, list(jobs.values())), timeout_s=45, poll_s=0.1,
                           what="workers A and B to finish every job")
                wait_until(lambda: _ended(a_log) >= HELD, timeout_s=30,
                           what="A's held jobs to end on A: a write refused by the fence or failed by the network")
        finally:
            if not returned:
                back(worker_a)
    assert _final(cq, [jobs[o] for o in held]) == taken, "worker A's late writes must change nothing B recorded"
    _assert_ledger_is_platform(fleet.sandbox, [cq.job(j) for j in jobs.values()])
    finished_by_b = {str(e["order_id"]) for e in _events(b_log, "finished")}
    assert held <= finished_by_b, f"worker B must have finished A's jobs {sorted(held)}"
    return Report(jobs=ORDERS, partitions=0, taken_over=len(held & finished_by_b),
                  lease_lost=_lease_lost(a_log), failed_by_network=_failed_by_network(a_log),
                  repaired=len(_events(b_log, "reconciled")), finished_by_a=len(_events(a_log, "finished")))


def _assert_ledger_is_platform(sandbox: SandboxClient, recs: list[JobRecord]) -> None:
    assert {r.state for r in recs} <= {"succeeded", "already_cancelled"}, {r.job_id: r.state for r in recs}
    stats = sandbox.stats()
    assert stats["cancelled_twice"] == [], stats["cancelled_twice"]
    by_ledger = {r.job["order_id"] for r in recs}
    on_platform = {o["order_id"] for o in sandbox.orders("shopee") if is_cancelled(o)}
    assert by_ledger == on_platform == {f"NS-{i}" for i in range(ORDERS)}
    assert stats["cancels_applied"] == ORDERS


def _table(kind: str, report: Report) -> None:
    print(f"\n{kind}\n| jobs | partitions | taken over by B | writes refused by the fence (lease_lost) |"
          f" tasks ended by Redis unreachable | repaired by a reconcile read | finished by A once back |"
          f" cancelled twice |\n| {report.jobs} | {report.partitions} | {report.taken_over} | {report.lease_lost} |"
          f" {report.failed_by_network} | {report.repaired} | {report.finished_by_a} | 0 |")


def test_a_worker_host_cut_off_from_redis_past_its_lease_loses_no_job_and_cancels_nothing_twice(
        fleet: Fleet, tmp_path: Path) -> None:
    """Restored once B has A's jobs: A's Redis calls were still waiting (5 s socket timeout), so they reach Redis
    after the partition and the fence refuses them; a call that timed out first ends its task unwritten."""
    report = _run(fleet, tmp_path, away=lambda _w: fleet.net.cut(fleet.a), back=lambda _w: fleet.net.restore(fleet.a))
    report.partitions = 1
    _table("a worker host cut off from Redis (its veth down) past its lease, restored once B has its jobs", report)
    assert report.lease_lost + report.failed_by_network == HELD and report.repaired == HELD


@pytest.mark.slow
def test_a_worker_host_cut_off_until_its_tasks_give_up_writes_nothing(fleet: Fleet, tmp_path: Path) -> None:
    """Restored only after A's Redis calls timed out: A's tasks end without a write."""
    report = _run(fleet, tmp_path, away=lambda _w: fleet.net.cut(fleet.a), back=lambda _w: fleet.net.restore(fleet.a),
                  until_given_up=True)
    report.partitions = 1
    _table("a worker host cut off from Redis until its tasks gave up", report)
    assert (report.lease_lost, report.failed_by_network, report.repaired) == (0, HELD, HELD)


def test_a_worker_host_frozen_past_its_lease_loses_no_job_and_cancels_nothing_twice(
        fleet: Fleet, tmp_path: Path) -> None:
    """A thawed worker's connections are intact: each write it still tries reaches Redis and the fence refuses it."""
    def freeze(worker: WorkerProcess) -> None:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGSTOP)

    def thaw(worker: WorkerProcess) -> None:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGCONT)

    report = _run(fleet, tmp_path, away=freeze, back=thaw)
    _table("a worker host frozen (SIGSTOP) past its lease", report)
    assert (report.lease_lost, report.failed_by_network, report.repaired) == (HELD, 0, HELD)


@pytest.mark.slow
def test_the_redis_host_cut_off_from_every_worker_past_the_lease_loses_no_job(fleet: Fleet, tmp_path: Path) -> None:
    """Both workers lose Redis mid-run until their held tasks give up; once it is back they finish every job."""
    cq, logs = fleet.cq, [tmp_path / "a.log", tmp_path / "b.log"]
    with _worker(fleet, fleet.a, logs[0], 2), _worker(fleet, fleet.b, logs[1], 2):
        jobs = _submit(fleet)
        wait_until(lambda: _held(fleet.sandbox), timeout_s=30, what="the first cancels to reach the platform")
        fleet.net.cut(fleet.redis)
        try:
            wait_until(lambda: sum(_failed_by_network(log) for log in logs) >= HELD, timeout_s=30,
                       what="the held tasks to give up on Redis")
        finally:
            fleet.net.restore(fleet.redis)
        wait_until(lambda: _final(cq, list(jobs.values())), timeout_s=60, poll_s=0.1,
                   what="the workers to finish every job once Redis is back")
    _assert_ledger_is_platform(fleet.sandbox, [cq.job(j) for j in jobs.values()])
    report = Report(jobs=ORDERS, partitions=1, taken_over=0, lease_lost=sum(_lease_lost(log) for log in logs),
                    failed_by_network=sum(_failed_by_network(log) for log in logs), finished_by_a=0,
                    repaired=sum(len(_events(log, "reconciled")) for log in logs))
    _table("the Redis host cut off from both workers", report)
    assert report.failed_by_network >= HELD and report.repaired >= HELD
