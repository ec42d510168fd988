"""End-to-end drain of a mixed campaign against the sandbox, next to a bare Celery task making the same calls.

Starts a private Valkey and the sandbox with 50 ms added to every platform call (a "latency" fault
with times=None) and the shops' limits set out of the way. Then, side by side in one run:

1. cancelq: worker processes (``cancelq worker``, threads pool) are started, a 10,000-order campaign
   (four platforms; ~92% cancellable, 5% already cancelled, 3% shipped) is run from a CSV file, and
   the clock stops when the campaign's record says it finished (intake is inside the measured time).
2. (with --plain) the same cancelq workers and orders sent as plain jobs, with no campaign: what the
   campaign's counters, hooks and record cost.
3. bare Celery: the same number of worker processes with the same pool and concurrency run a task
   that builds the same adapter and runs the same steps (the same HTTP calls) for a second, identical
   set of orders: no ledger, no limiter, no leases, no logging; it counts itself done with one INCR.

    .venv/bin/python bench/campaign_drain.py [--orders 10000] [--workers 2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery

BARE_QUEUE = "bare"
BARE_DONE = "bench:bare:done"
SHARE = {"shopee": 0.35, "lazada": 0.30, "shopline": 0.20, "shoplazza": 0.15}
REASONS = {"shopee": "CUSTOMER_REQUEST", "lazada": "OUT_OF_STOCK", "shopline": "CUSTOMER_REQUEST",
           "shoplazza": "OTHER"}
NO_LIMITS = {"rate_per_s": 100_000, "burst": 100_000}

bare = Celery("bench", broker=os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/0"))
bare.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True, result_backend=None,
                 task_default_queue=BARE_QUEUE, worker_hijack_root_logger=False)
_adapters: dict[str, Any] = {}


@bare.task(name="bench.bare_cancel", ignore_result=True)
def bare_cancel(platform: str, order_id: str, reason: str) -> None:
    """The same platform calls as a cancelq job: the adapter's steps, in order, nothing around them."""
    from cancelq.platforms.base import CancelRequest
    from cancelq.platforms.errors import PlatformError
    from cancelq.platforms.reasons import Reason

    adapter = _adapter(platform)
    request = CancelRequest(order_id=order_id, reason=Reason(reason))
    state: dict[str, Any] = {}
    try:
        for spec in adapter.plan(request):
            result = adapter.run_step(spec.name, request, state)
            state[spec.name] = result.data
            if result.outcome is not None:
                break
    except PlatformError:
        pass
    _redis().incr(BARE_DONE)


def _adapter(platform: str) -> Any:
    if platform not in _adapters:
        from cancelq.platforms.http import Timeouts, new_session
        from cancelq.platforms.registry import build_adapter

        credentials = json.loads(os.environ["BENCH_CREDENTIALS"])[platform]
        session = _adapters.setdefault("_session", new_session(pool_maxsize=128))
        _adapters[platform] = build_adapter(platform, credentials, base_url=os.environ["BENCH_SANDBOX"],
                                            session=session, timeouts=Timeouts(3.05, 15.0))
    return _adapters[platform]


def _redis() -> Any:
    if "_redis" not in _adapters:
        import redis

        _adapters["_redis"] = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    return _adapters["_redis"]


def _kits() -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.kits.lazada import KIT as LAZADA
    from tests.kits.shopee import KIT as SHOPEE
    from tests.kits.shoplazza import KIT as SHOPLAZZA
    from tests.kits.shopline import KIT as SHOPLINE

    return {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}


def _orders(total: int, prefix: str, rng: random.Random) -> list[dict[str, Any]]:
    orders = []
    for platform, share in SHARE.items():
        for i in range(int(total * share)):
            roll = rng.random()
            state = "shipped" if roll < 0.03 else "cancelled" if roll < 0.08 else "cancellable"
            orders.append({"platform": platform, "order_id": f"{prefix}{platform[:2].upper()}-{i:06d}",
                           "state": state})
    rng.shuffle(orders)
    return orders


def _bare_message(args: list[str]) -> str:
    task_id = str(uuid.uuid4())
    body = base64.b64encode(json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                   "chord": None}]).encode()).decode()
    return json.dumps({
        "body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": "bench.bare_cancel", "id": task_id, "root_id": task_id, "parent_id": None,
                    "group": None, "retries": 0, "timelimit": [None, None], "eta": None, "expires": None},
        "properties": {"correlation_id": task_id, "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": BARE_QUEUE}, "delivery_tag": task_id},
    })


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def run_cancelq(args: argparse.Namespace, env: dict[str, str], work: Path, orders: list[dict[str, Any]],
                shops: dict[str, str]) -> tuple[float, dict[str, int]]:
    from cancelq.api import CancelQ

    client = CancelQ()
    path = work / "campaign.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("platform,shop,order_id,reason\n")
        handle.writelines(f"{o['platform']},{shops[o['platform']]},{o['order_id']},{REASONS[o['platform']]}\n"
                          for o in orders)
    workers = [_start([sys.executable, "-m", "cancelq.worker.cli", "worker", "--concurrency", str(args.concurrency),
                       "--hostname", f"cq{i}@bench"], env, work / "cancelq-worker.log") for i in range(args.workers)]
    try:
        _wait(lambda: all(client.rt.redis.exists(f"cq:worker:cq{i}@bench") for i in range(args.workers)), 60,
              "the cancelq workers")
        started = time.perf_counter()
        campaign_id = client.run_campaign(path).campaign_id
        _wait(lambda: client.campaign(campaign_id).finished, 900, "the campaign to finish")
        elapsed = time.perf_counter() - started
        counts = client.campaign(campaign_id).counts
    finally:
        _stop(workers)
    return elapsed, counts


def run_plain(args: argparse.Namespace, env: dict[str, str], work: Path, orders: list[dict[str, Any]],
              shops: dict[str, str]) -> float:
    from cancelq.worker.campaign_intake import Publisher
    from cancelq.worker.jobs import parse_job
    from cancelq.worker.runtime import Runtime

    rt = Runtime()
    jobs = [parse_job({"platform": o["platform"], "shop": shops[o["platform"]], "order_id": o["order_id"],
                       "reason": REASONS[o["platform"]]}) for o in orders]
    workers = [_start([sys.executable, "-m", "cancelq.worker.cli", "worker", "--concurrency", str(args.concurrency),
                       "--hostname", f"plain{i}@bench"], env, work / "plain-worker.log") for i in range(args.workers)]
    try:
        _wait(lambda: all(rt.redis.exists(f"cq:worker:plain{i}@bench") for i in range(args.workers)), 60,
              "the cancelq workers")
        started = time.perf_counter()
        ids = []
        for i in range(0, len(jobs), 500):
            batch = [admitted.job_id for admitted in rt.ledger.intake_many(jobs[i:i + 500])]
            Publisher(rt).send(batch)
            ids += batch
        _wait(lambda: _all_final(rt, ids), 900, "the plain jobs")
        return time.perf_counter() - started
    finally:
        _stop(workers)


def _all_final(rt: Any, ids: list[str]) -> bool:
    from cancelq.worker import keys
    from cancelq.worker.ledger import FINAL_STATES

    time.sleep(0.5)
    pipe = rt.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job(job_id), "state")
    return all(state in FINAL_STATES for state in pipe.execute())


def run_bare(args: argparse.Namespace, env: dict[str, str], work: Path, orders: list[dict[str, Any]]) -> float:
    import redis

    r = redis.Redis.from_url(env["BENCH_BROKER"])
    bench_dir = str(Path(__file__).resolve().parent)
    bare_env = {**env, "PYTHONPATH": os.pathsep.join([bench_dir, env.get("PYTHONPATH", "")])}
    workers = [_start([sys.executable, "-m", "celery", "-A", "campaign_drain:bare", "worker", "--pool", "threads",
                       "--concurrency", str(args.concurrency), "--queues", BARE_QUEUE, "--without-gossip",
                       "--without-mingle", "--without-heartbeat", "--loglevel", "warning", "--hostname",
                       f"bare{i}@bench"], bare_env, work / "bare-worker.log") for i in range(args.workers)]
    try:
        r.set(BARE_DONE, 0)
        r.lpush(BARE_QUEUE, _bare_message(["shopline", "WARM-UP", "CUSTOMER_REQUEST"]))
        _wait(lambda: int(r.get(BARE_DONE) or 0) >= 1, 60, "the bare workers")
        r.set(BARE_DONE, 0)
        started = time.perf_counter()
        pipe = r.pipeline(transaction=False)
        for o in orders:
            pipe.lpush(BARE_QUEUE, _bare_message([o["platform"], o["order_id"], REASONS[o["platform"]]]))
        pipe.execute()
        _wait(lambda: int(r.get(BARE_DONE) or 0) >= len(orders), 900, "the bare tasks")
        return time.perf_counter() - started
    finally:
        _stop(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, for each of the two")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--plain", action="store_true", help="also run the orders as plain jobs (no campaign)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-drain-"))
    from cancelq.sandbox.control import SandboxClient
    from cancelq.sandbox.runner import SandboxProcess
    from cancelq.worker.embedded import ValkeyProcess

    kits, rng = _kits(), random.Random(11)
    with ValkeyProcess(work / "valkey") as valkey, SandboxProcess() as sandbox_proc:
        sandbox = SandboxClient(sandbox_proc.url)
        credentials = {p: dict(k.credentials) for p, k in kits.items()}
        env = {**os.environ, "CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_FORMAT": "json",
               "BENCH_BROKER": valkey.url, "BENCH_SANDBOX": sandbox_proc.url,
               "BENCH_CREDENTIALS": json.dumps(credentials)}
        os.environ.update(env)
        from cancelq.worker.runtime import Runtime

        rt, shops = Runtime(), {}
        for platform, kit in kits.items():
            sandbox.add_shop(platform, **kit.shop_spec)
            shops[platform] = f"bench-{platform}"
            rt.shops.add(platform, shops[platform], credentials[platform], base_url=sandbox_proc.url,
                         limits={**NO_LIMITS, "per_api": platform == "lazada"})
            sandbox.fault(platform, "latency", latency_ms=args.latency_ms, times=None)
        ours, theirs = _orders(args.orders, "C", rng), _orders(args.orders, "B", rng)
        plain = _orders(args.orders, "P", rng) if args.plain else []
        seeded = [{**o, "shop": kits[o["platform"]].shop_ref} for o in ours + theirs + plain]
        for i in range(0, len(seeded), 2000):  # the control API takes bodies up to 1 MB
            sandbox.add_orders(seeded[i:i + 2000])
        sandbox.add_order("shopline", kits["shopline"].shop_ref, "WARM-UP", state="cancellable")
        calls_before = _calls(sandbox)
        cq_s, counts = run_cancelq(args, env, work, ours, shops)
        calls_cq = _calls(sandbox) - calls_before
        plain_s = run_plain(args, env, work, plain, shops) if plain else None
        calls_before = _calls(sandbox)
        bare_s = run_bare(args, env, work, theirs)
        calls_bare = _calls(sandbox) - calls_before
        twice = sandbox.stats()["cancelled_twice"]
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


def _calls(sandbox: Any) -> int:
    return sum(n for endpoints in sandbox.stats()["calls"].values() for n in endpoints.values())


if __name__ == "__main__":
    main()
