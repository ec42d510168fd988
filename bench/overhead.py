"""What cancelq costs on top of the platform calls: jobs/s against bare Celery, Redis commands and CPU per job.

For each flow (one-call Shopee, three-call Lazada) and side by side in one run: the same number of
worker processes with the same pool and concurrency drain N orders, first as cancelq jobs (ledger,
leases, limiter, logging, metrics), then as a bare Celery task making the same HTTP calls
(bench/bare_app.py). The sandbox adds ``--latency-ms`` to every platform call; limits are out of the way.

A third run, "bare+ev", is the bare task with Celery's task events on: the part of the gap that is Flower's.

Printed per flow: jobs/s of each and their ratio (target: cancelq >= 80% of bare); Redis commands per
job during the cancelq drain, from INFO commandstats (the bench's own polling subtracted; the workers'
idle traffic, such as broker polls and heartbeats, included; target <= 12 for the one-call flow); and
the worker processes' CPU seconds per 1,000 jobs, for both.

    .venv/bin/python bench/overhead.py [--orders 3000] [--workers 2] [--concurrency 32] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import common

FLOWS = {"shopee": "one call (Shopee)", "lazada": "three calls (Lazada)"}


@dataclass
class Drain:
    seconds: float
    jobs: int
    cpu_s: float
    commands: int | None = None

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def drain_cancelq(b: common.Bed, rt: object, batch: list[dict[str, object]], args: argparse.Namespace,
                  tag: str) -> Drain:
    procs = common.cancelq_workers(b, args.workers, args.concurrency, tag)
    try:
        time.sleep(1.0)  # let the workers' start-up traffic settle before counting commands
        cpu0, cmd0, started = common.cpu_seconds([p.pid for p in procs]), common.commands(b.redis_url), \
            time.perf_counter()
        ids = common.submit_plain(rt, b, batch)
        finals = common.Finals(rt, ids)
        common.wait(finals.done, 900, "the cancelq jobs", poll_s=0.2)
        elapsed = time.perf_counter() - started
        cmds = common.commands(b.redis_url) - cmd0 - finals.sent
        cpu = common.cpu_seconds([p.pid for p in procs]) - cpu0
    finally:
        common.stop(procs)
    return Drain(elapsed, len(batch), cpu, cmds)


def drain_bare(b: common.Bed, batch: list[dict[str, object]], args: argparse.Namespace, *, events: bool = False
               ) -> Drain:
    procs = common.bare_workers(b, args.workers, args.concurrency, events=events)
    try:
        time.sleep(1.0)
        polls = [0]

        def done() -> bool:
            polls[0] += 1
            return common.bare_done(b) >= len(batch)

        cpu0, cmd0, started = common.cpu_seconds([p.pid for p in procs]), common.commands(b.redis_url), \
            time.perf_counter()
        common.submit_bare(b, batch)
        common.wait(done, 900, "the bare tasks", poll_s=0.2)
        elapsed = time.perf_counter() - started
        cmds = common.commands(b.redis_url) - cmd0 - polls[0]
        cpu = common.cpu_seconds([p.pid for p in procs]) - cpu0
    finally:
        common.stop(procs)
    return Drain(elapsed, len(batch), cpu, cmds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders per flow, for each of the two")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, for each of the two")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--flows", default=",".join(FLOWS), help="comma-separated: shopee,lazada")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-overhead-"))
    rng = random.Random(7)
    rows = []
    with common.bed(work, latency_ms=args.latency_ms) as b:
        from cancelq.runtime import Runtime

        rt = Runtime()
        for flow in args.flows.split(","):
            ours = common.orders(args.orders, "Q", rng, {flow: 1.0}, shipped=0, cancelled=0)
            theirs = common.orders(args.orders, "B", rng, {flow: 1.0}, shipped=0, cancelled=0)
            evented = common.orders(args.orders, "E", rng, {flow: 1.0}, shipped=0, cancelled=0)
            b.seed(ours + theirs + evented)
            calls0 = b.calls()
            cq = drain_cancelq(b, rt, ours, args, f"{flow}-cq")
            calls_cq = b.calls() - calls0
            bare = drain_bare(b, theirs, args)
            calls_bare = b.calls() - calls0 - calls_cq - 1
            bare_events = drain_bare(b, evented, args, events=True)
            rows.append((flow, cq, bare, bare_events, calls_cq, calls_bare))
        twice = b.sandbox.stats()["cancelled_twice"]
    print(f"{args.orders:,} orders per flow, sandbox latency {args.latency_ms} ms, limits off, "
          f"{args.workers} worker process(es) x {args.concurrency} threads (logs in {work})")
    print(f"{'':22} {'jobs/s':>27} {'cancelq/':>15} {'Redis commands/job':>26} {'CPU s/1,000 jobs':>22}")
    print(f"{'flow':22} {'cancelq':>8} {'bare':>8} {'bare+ev':>8} {'bare':>7} {'bare+ev':>7} "
          f"{'cancelq':>8} {'bare':>6} {'own':>6} {'cancelq':>8} {'bare':>6} {'bare+ev':>7}  calls cq/bare")
    for flow, cq, bare, ev, calls_cq, calls_bare in rows:
        cmds, bare_cmds = (cq.commands or 0) / cq.jobs, (bare.commands or 0) / bare.jobs
        print(f"{FLOWS[flow]:22} {cq.rate:8.1f} {bare.rate:8.1f} {ev.rate:8.1f} {cq.rate / bare.rate:7.2f} "
              f"{cq.rate / ev.rate:7.2f} {cmds:8.1f} {bare_cmds:6.1f} {cmds - bare_cmds:6.1f} "
              f"{cq.cpu_s / cq.jobs * 1000:8.2f} {bare.cpu_s / bare.jobs * 1000:6.2f} "
              f"{ev.cpu_s / ev.jobs * 1000:7.2f}  {calls_cq:,}/{calls_bare:,}")
    print("bare+ev: the bare task with Celery task events on, as cancelq sends them for Flower. own: cancelq's "
          "commands beyond the broker's (the bare task's, incl. its one INCR).")
    print(f"orders cancelled twice: {len(twice)}")


if __name__ == "__main__":
    main()
