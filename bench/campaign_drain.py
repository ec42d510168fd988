"""End-to-end drain of a mixed campaign against the sandbox, next to a bare Celery task making the same calls.

Starts a private Valkey and the sandbox with 50 ms added to every platform call (a "latency" fault
with times=None) and the shops' limits set out of the way. Then, side by side in one run:

1. cancelq: worker processes (``cancelq worker``, threads pool) are started, a 10,000-order campaign
   (four platforms; ~92% cancellable, 5% already cancelled, 3% shipped) is run from a CSV file, and
   the clock stops when the campaign's record says it finished (intake is inside the measured time).
2. (with --plain) the same cancelq workers and orders sent as plain jobs, with no campaign: what the
   campaign's counters, hooks and record cost.
3. bare Celery: the same number of worker processes with the same pool and concurrency run the task in
   bench/bare_app.py, which builds the same adapter and runs the same steps (the same HTTP calls) for a
   second, identical set of orders: no ledger, no limiter, no leases, no logging.

    .venv/bin/python bench/campaign_drain.py [--orders 10000] [--workers 2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import common

REASONS = common.REASONS


def run_cancelq(args: argparse.Namespace, bed: common.Bed, orders: list[dict[str, Any]]
                ) -> tuple[float, dict[str, int]]:
    from cancelq.client import CancelQ

    client = CancelQ()
    shops = bed.shops
    path = bed.work / "campaign.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("platform,shop,order_id,reason\n")
        handle.writelines(f"{o['platform']},{shops[o['platform']]},{o['order_id']},{REASONS[o['platform']]}\n"
                          for o in orders)
    workers = common.cancelq_workers(bed, args.workers, args.concurrency, "cq")
    try:
        started = time.perf_counter()
        campaign_id = client.run_campaign(path).campaign_id
        common.wait(lambda: client.campaign(campaign_id).finished, 900, "the campaign to finish")
        elapsed = time.perf_counter() - started
        counts = client.campaign(campaign_id).counts
    finally:
        common.stop(workers)
    return elapsed, counts


def run_plain(args: argparse.Namespace, bed: common.Bed, orders: list[dict[str, Any]]) -> float:
    from cancelq.runtime import Runtime

    rt = Runtime()
    workers = common.cancelq_workers(bed, args.workers, args.concurrency, "plain")
    try:
        started = time.perf_counter()
        finals = common.Finals(rt, common.submit_plain(rt, bed, orders))
        common.wait(finals.done, 900, "the plain jobs", poll_s=0.5)
        return time.perf_counter() - started
    finally:
        common.stop(workers)


def run_bare(args: argparse.Namespace, bed: common.Bed, orders: list[dict[str, Any]]) -> float:
    workers = common.bare_workers(bed, args.workers, args.concurrency)
    try:
        started = time.perf_counter()
        common.submit_bare(bed, orders)
        common.wait(lambda: common.bare_done(bed) >= len(orders), 900, "the bare tasks")
        return time.perf_counter() - started
    finally:
        common.stop(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, for each of the two")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--plain", action="store_true", help="also run the orders as plain jobs (no campaign)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-drain-"))
    rng = random.Random(11)
    with common.bed(work, latency_ms=args.latency_ms) as bed:
        ours, theirs = common.orders(args.orders, "C", rng), common.orders(args.orders, "B", rng)
        plain = common.orders(args.orders, "P", rng) if args.plain else []
        bed.seed(ours + theirs + plain)
        calls_before = bed.calls()
        cq_s, counts = run_cancelq(args, bed, ours)
        calls_cq = bed.calls() - calls_before
        plain_s = run_plain(args, bed, plain) if plain else None
        calls_before = bed.calls()
        bare_s = run_bare(args, bed, theirs)
        calls_bare = bed.calls() - calls_before
        twice = bed.sandbox.stats()["cancelled_twice"]
    n = len(ours)
    print(f"{n:,}-order mixed campaign, sandbox latency {args.latency_ms} ms, limits off, "
          f"{args.workers} worker process(es) x {args.concurrency} threads each (logs in {work})")
    print(f"  cancelq campaign  {n / cq_s:7.1f} jobs/s  ({cq_s:.1f} s from `campaign run` to finished; "
          f"{calls_cq:,} platform calls)")
    print("                    " + " ".join(f"{k}={counts[k]}" for k in ("succeeded", "already_cancelled", "dead",
                                                                         "rejected", "aborted")))
    if plain_s is not None:
        print(f"  cancelq, no campaign {n / plain_s:4.1f} jobs/s  ({plain_s:.1f} s: the same jobs without a campaign)")
    print(f"  bare Celery task  {n / bare_s:7.1f} jobs/s  ({bare_s:.1f} s; {calls_bare - 1:,} platform calls)")
    print(f"  cancelq / bare    {bare_s / cq_s:7.2f}x   orders cancelled twice: {len(twice)}")


if __name__ == "__main__":
    main()
