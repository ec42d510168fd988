"""Does the fleet-wide limiter hold a shop to its rate across worker processes?

Starts a private Valkey, the sandbox and 4 `cancelq worker` processes. One Shopee
shop is limited to R requests/s (burst B); a second shop is left at a high
limit. N jobs per shop are submitted at once. From the sandbox's own per-second
call counts it prints each shop's achieved rate and the busiest second seen.

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

from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

SHOPS = {"limited": 5550001, "free": 5550002}
KEY, PARTNER = "bench_partner_key_0123456789", 2001887


def _creds(shop_id: int) -> dict[str, object]:
    return {"partner_id": PARTNER, "partner_key": KEY, "shop_id": shop_id, "access_token": f"tok{shop_id}"}


def _steady_rate(per_second: dict[str, int]) -> tuple[float, int, int]:
    """Calls per second over the full seconds between the first and the last (partial ones dropped)."""
    seconds = sorted(int(s) for s in per_second)
    full = [per_second[str(s)] for s in range(seconds[0] + 1, seconds[-1])]
    rate = sum(full) / len(full) if full else float("nan")
    return rate, max(per_second.values()), len(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=500)
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
        limits = {"limited": {"rate_per_s": args.rate, "burst": args.burst},
                  "free": {"rate_per_s": 10_000, "burst": 100}}
        for name, shop_id in SHOPS.items():
            sandbox.add_shop("shopee", **_creds(shop_id))
            client.rt.shops.add("shopee", name, _creds(shop_id), base_url=sandbox_proc.url, limits=limits[name])
            sandbox.add_orders([{"platform": "shopee", "shop": str(shop_id), "order_id": f"{name}-{i}",
                                 "state": "cancellable"} for i in range(args.jobs)])
        workers = [subprocess.Popen(
            [sys.executable, "-m", "cancelq.cli.main", "worker", "--concurrency", str(args.concurrency),
             "--hostname", f"bench{i}@%h"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(args.workers)]
        try:
            while len(client.rt.redis.keys(keys.worker("*"))) < args.workers:
                time.sleep(0.1)
            started = time.monotonic()
            handles = [client.submit({"platform": "shopee", "shop": name, "order_id": f"{name}-{i}",
                                      "reason": "CUSTOMER_REQUEST"}) for i in range(args.jobs) for name in SHOPS]
            for handle in handles:
                handle.wait(timeout_s=args.jobs / args.rate * 3 + 60, poll_s=0.2)
            elapsed = time.monotonic() - started
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait()
        stats = sandbox.stats()
    print(f"{args.workers} workers x {args.concurrency} threads, {args.jobs} jobs per shop, all done in {elapsed:.1f}s")
    for name, shop_id in SHOPS.items():
        rate, busiest, seconds = _steady_rate(stats["per_second"][f"shopee/{shop_id}"])
        print(f"  {name:8s} limit {limits[name]['rate_per_s']:>7g}/s burst {limits[name]['burst']:>3}: "
              f"achieved {rate:7.2f}/s over {seconds} full seconds, busiest second {busiest}")
    rate, busiest, _ = _steady_rate(stats["per_second"][f"shopee/{SHOPS['limited']}"])
    print(f"limited shop: {100 * (rate - args.rate) / args.rate:+.1f}% of R; busiest second {busiest} "
          f"vs R + burst = {args.rate + args.burst:g}; cancelled twice: {len(stats['cancelled_twice'])}")


if __name__ == "__main__":
    main()
