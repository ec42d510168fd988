"""Does the fleet-wide limiter hold a shop to its rate across worker processes, without starving the others?

Starts a private Valkey, the sandbox and 4 `cancelq worker` processes. Two rounds in the same run:

1. alone: N jobs of a shop with a high limit (`free-alone`), nothing else;
2. beside: N jobs of a shop limited to R requests/s (burst B) and N jobs of another high-limit shop (`free`),
   submitted at once, interleaved.

From the sandbox's own per-second call counts it prints each shop's steady rate and busiest second, the free
shop's rate beside the limited one as a share of its rate alone, and, from the ledger, how much longer than its
place in line allows (i / R after the burst) a limited job waited for its call.

    .venv/bin/python bench/limiter_fidelity.py [--rate 25] [--burst 5] [--jobs 500] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

SHOPS = {"limited": 5550001, "free": 5550002, "free-alone": 5550003, "limited-2": 5550004, "free-backlog": 5550005}
LIMITED = ("limited", "limited-2")
KEY, PARTNER = "bench_partner_key_0123456789", 2001887


def _creds(shop_id: int) -> dict[str, object]:
    return {"partner_id": PARTNER, "partner_key": KEY, "shop_id": shop_id, "access_token": f"tok{shop_id}"}


def _steady_rate(per_second: dict[str, int]) -> tuple[float, int, int]:
    """Calls per second over the full seconds between the first and the last (partial ones dropped); with fewer
    than three seconds, the calls over the span."""
    seconds = sorted(int(s) for s in per_second)
    full = [per_second[str(s)] for s in range(seconds[0] + 1, seconds[-1])]
    if not full:
        return sum(per_second.values()) / max(1, seconds[-1] - seconds[0] + 1), max(per_second.values()), 0
    return sum(full) / len(full), max(per_second.values()), len(full)


def _submit(client: Any, counts: dict[str, int]) -> tuple[list[tuple[str, int, Any]], float]:
    """Submit ``counts[shop]`` jobs per shop, interleaved; wait for all. Returns (shop, place, handle) and the
    drain time."""
    started = time.monotonic()
    handles = [(name, i, client.submit({"platform": "shopee", "shop": name, "order_id": f"{name}-{i}",
                                        "reason": "CUSTOMER_REQUEST"}))
               for i in range(max(counts.values())) for name in counts if i < counts[name]]
    for _, _, handle in handles:
        handle.wait(timeout_s=600, poll_s=0.2)
    return handles, time.monotonic() - started


def _drain_rate(client: Any, handles: list[tuple[str, int, Any]], shop: str) -> float:
    """A shop's jobs per second, from the first one's intake to the last one's outcome (the ledger's times)."""
    records = [client.rt.ledger.get(handle.job_id) for name, _, handle in handles if name == shop]
    span_ms = max(r.finished_at for r in records) - min(r.created_at for r in records)
    return len(records) / max(span_ms / 1000, 1e-3)


def _beside_backlog(client: Any, args: argparse.Namespace) -> list[tuple[str, int, Any]]:
    """The free shop's jobs submitted once a limited shop's backlog has been taken up (every job of it delivered
    once and waiting for its slot): what its backlog costs the others, apart from its own first deliveries."""
    backlog = [client.submit({"platform": "shopee", "shop": "limited-2", "order_id": f"limited-2-{i}",
                              "reason": "CUSTOMER_REQUEST"}) for i in range(args.jobs)]
    deadline = time.monotonic() + 120
    while any(client.rt.ledger.get(h.job_id).state == "queued" for h in backlog) and time.monotonic() < deadline:
        time.sleep(0.2)
    handles, _ = _submit(client, {"free-backlog": args.free_jobs})
    for handle in backlog:
        handle.wait(timeout_s=600, poll_s=0.2)
    return handles


def _excess_waits(client: Any, handles: list[tuple[str, int, Any]], rate: float, burst: int) -> list[float]:
    """For each limited job: when its cancel was answered, minus when its place in line allows it."""
    excess = []
    for name, place, handle in handles:
        if name != "limited":
            continue
        record = client.rt.ledger.get(handle.job_id)
        answered = record.steps.get("cancel", {}).get("at") or record.finished_at
        allowed = max(0.0, (place - burst + 1) / rate)
        excess.append((answered - record.created_at) / 1000 - allowed)
    return excess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--free-jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-limiter-"))
    with ValkeyProcess(work / "valkey") as valkey, SandboxProcess() as sandbox_proc:
        env = {**os.environ, "CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_LEVEL": "WARNING",
               "CANCELQ_LOG_FORMAT": "json"}
        os.environ.update(env)
        from cancelq.client import CancelQ

        client, sandbox = CancelQ(), SandboxClient(sandbox_proc.url)
        free = {"rate_per_s": 10_000, "burst": 100}
        limited = {"rate_per_s": args.rate, "burst": args.burst}
        limits = {"limited": limited, "limited-2": limited, "free": free, "free-alone": free, "free-backlog": free}
        for name, shop_id in SHOPS.items():
            sandbox.add_shop("shopee", **_creds(shop_id))
            client.rt.shops.add("shopee", name, _creds(shop_id), base_url=sandbox_proc.url, limits=limits[name])
            count = args.jobs if name in LIMITED else args.free_jobs
            sandbox.add_orders([{"platform": "shopee", "shop": str(shop_id), "order_id": f"{name}-{i}",
                                 "state": "cancellable"} for i in range(count)])
        workers = [subprocess.Popen(
            [sys.executable, "-m", "cancelq.cli.main", "worker", "--concurrency", str(args.concurrency),
             "--hostname", f"bench{i}@%h"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(args.workers)]
        try:
            while len(client.rt.redis.keys(keys.worker("*"))) < args.workers:
                time.sleep(0.1)
            alone, alone_s = _submit(client, {"free-alone": args.free_jobs})
            handles, beside_s = _submit(client, {"limited": args.jobs, "free": args.free_jobs})
            excess = _excess_waits(client, handles, args.rate, args.burst)
            backlog = _beside_backlog(client, args)
            drained = {"free-alone": _drain_rate(client, alone, "free-alone"), "free": _drain_rate(client, handles, "free"),
                       "free-backlog": _drain_rate(client, backlog, "free-backlog")}
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait()
        stats = sandbox.stats()
    _report(args, stats, limits, (alone_s, beside_s), drained, excess)


def _report(args: argparse.Namespace, stats: dict[str, Any], limits: dict[str, dict[str, float]],
            times: tuple[float, float], drained: dict[str, float], excess: list[float]) -> None:
    print(f"{args.workers} workers x {args.concurrency} threads; {args.free_jobs} free jobs alone drained in "
          f"{times[0]:.1f}s; {args.jobs} limited + {args.free_jobs} free jobs beside, in {times[1]:.1f}s")
    rates = {}
    for name, shop_id in SHOPS.items():
        rate, busiest, seconds = rates[name] = _steady_rate(stats["per_second"][f"shopee/{shop_id}"])
        print(f"  {name:10s} limit {limits[name]['rate_per_s']:>7g}/s burst {limits[name]['burst']:>3}: "
              f"achieved {rate:7.2f}/s over {seconds} full seconds, busiest second {busiest}")
    rate, busiest, _ = rates["limited"]
    print(f"limited shop: {100 * (rate - args.rate) / args.rate:+.1f}% of R; busiest second {busiest} "
          f"vs R + burst = {args.rate + args.burst:g}; cancelled twice: {len(stats['cancelled_twice'])}")
    print(f"free shop beside the limited one: {drained['free']:.1f} jobs/s vs {drained['free-alone']:.1f} jobs/s "
          f"alone = {drained['free'] / drained['free-alone']:.2f}x (intake of the first to outcome of the last; "
          f"submitted together, so it includes the limited jobs' own first deliveries)")
    print(f"free shop beside a limited shop's backlog already taken up: {drained['free-backlog']:.1f} jobs/s = "
          f"{drained['free-backlog'] / drained['free-alone']:.2f}x alone")
    print(f"limited jobs' wait past their place in line (i / R after the burst): max {max(excess):+.2f}s, "
          f"over 1 s: {sum(1 for e in excess if e > 1.0)} of {len(excess)}")
    calls = stats["calls"]["shopee"]
    print(f"sandbox calls: {dict(sorted(calls.items()))}")


if __name__ == "__main__":
    main()
