"""Scale: drain rate with 1, 2 and 4 worker processes on this machine, and what it implies for a fleet.

Starts a private Valkey and the sandbox with 50 ms added to every platform call and the shops'
limits out of the way. For each process count in ``--processes`` (1, 2, 4), that many cancelq
worker processes (threads pool, ``--concurrency`` 32 each) first run a small unmeasured warm-up,
then drain the same number (``--orders``) of fresh plain jobs (four platforms mixed; ~92%
cancellable, 5% already cancelled, 3% shipped; new order ids each round, seeded in the sandbox).
Measured per round: jobs/s from the first submission to the last final state (intake included);
the worker processes' CPU seconds (/proc); the server's own CPU seconds (INFO cpu); and the Redis
commands of the drain (INFO commandstats after minus before, minus the bench's own polling; the
workers' idle traffic such as broker polls and heartbeats, and intake, included; commandstats also
counts the commands that Lua scripts run).

Then what one Redis serves here: ``redis-benchmark`` against the same Valkey, pipelined (-P 16) and
not (-P 1, 50 clients), for SET, GET, HSET, ZADD. Finally the fleet on paper: jobs per worker
CPU-second, Redis commands per job and per 1,000 jobs/s, the jobs/s one such Redis carries at that
cost (ops/s / commands per job, and by the server's CPU per job), and how many 2-core worker hosts
that takes. All figures come from the run; this machine's speed drifts, so compare within one run.

    .venv/bin/python bench/scale.py [--orders 4000] [--processes 1,2,4] [--concurrency 32] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import common

BENCH_TESTS = "set,get,hset,zadd"
WORKER_HOST_CORES = 2


@dataclass
class Round:
    """One drain: ``processes`` worker processes, ``jobs`` jobs."""

    processes: int
    jobs: int
    seconds: float
    worker_cpu_s: float
    redis_cpu_s: float
    by_command: dict[str, int]

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def commands(self) -> int:
        return sum(self.by_command.values())


@dataclass
class Capacity:
    """What one Redis served here in redis-benchmark: requests/s per test."""

    label: str
    per_test: dict[str, float]

    @property
    def mean(self) -> float:
        return sum(self.per_test.values()) / len(self.per_test)


def drain(b: common.Bed, rt: Any, warm: list[dict[str, Any]], batch: list[dict[str, Any]],
          args: argparse.Namespace, processes: int) -> Round:
    procs = common.cancelq_workers(b, processes, args.concurrency, f"scale{processes}-")
    pids = [p.pid for p in procs]
    try:
        common.wait(common.Finals(rt, common.submit_plain(rt, b, warm)).done, 300, "the warm-up jobs", poll_s=0.2)
        time.sleep(1.0)  # let the warm-up's tail settle before counting
        cpu0, redis_cpu0, cmds0 = common.cpu_seconds(pids), common.redis_cpu_seconds(b.redis_url), \
            common.command_counts(b.redis_url)
        started = time.perf_counter()
        finals = common.Finals(rt, common.submit_plain(rt, b, batch))
        common.wait(finals.done, 900, "the jobs to drain", poll_s=0.2)
        elapsed = time.perf_counter() - started
        cmds1 = common.command_counts(b.redis_url)
        cpu, redis_cpu = common.cpu_seconds(pids) - cpu0, common.redis_cpu_seconds(b.redis_url) - redis_cpu0
    finally:
        common.stop(procs)
    by_command = {k: n - cmds0.get(k, 0) for k, n in cmds1.items() if n - cmds0.get(k, 0)}
    by_command["hget"] = by_command.get("hget", 0) - finals.sent  # Finals polls with HGET only
    return Round(processes, len(batch), elapsed, cpu, redis_cpu, by_command)


def redis_benchmark(redis_url: str, requests: int, pipeline: int, clients: int) -> Capacity:
    """``redis-benchmark -q`` against the server; falls back to a pipelined Python loop when absent."""
    label = f"-P {pipeline} -c {clients}"
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return Capacity(f"{label} (python loop, no redis-benchmark)", python_benchmark(redis_url, requests, pipeline))
    url = urlparse(redis_url)
    out = subprocess.run([binary, "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379), "-q", "-n",
                          str(requests), "-P", str(pipeline), "-c", str(clients), "-t", BENCH_TESTS],
                         capture_output=True, text=True, check=True).stdout
    per_test = {m.group(1): float(m.group(2))
                for m in re.finditer(r"^\s*([A-Z]+): ([\d.]+) requests per second", out.replace("\r", "\n"), re.M)}
    if not per_test:
        raise SystemExit(f"could not read redis-benchmark's output:\n{out}")
    return Capacity(label, per_test)


def python_benchmark(redis_url: str, requests: int, pipeline: int) -> dict[str, float]:
    """One client, ``pipeline`` commands per round trip; a floor, as one Python client is slower than the server."""
    import redis

    r = redis.Redis.from_url(redis_url)
    ops: dict[str, Any] = {"SET": lambda p, i: p.set(f"bench:k:{i}", "x"), "GET": lambda p, i: p.get(f"bench:k:{i}"),
                           "HSET": lambda p, i: p.hset("bench:h", f"f{i}", "x"),
                           "ZADD": lambda p, i: p.zadd("bench:z", {f"m{i}": i})}
    out = {}
    for name, op in ops.items():
        started = time.perf_counter()
        for i in range(0, requests, pipeline):
            pipe = r.pipeline(transaction=False)
            for j in range(i, min(i + pipeline, requests)):
                op(pipe, j)
            pipe.execute()
        out[name] = requests / (time.perf_counter() - started)
    return out


def print_rounds(rounds: list[Round], args: argparse.Namespace) -> None:
    print(f"{'processes':>9} {'threads':>7} {'jobs':>6} {'seconds':>7} {'jobs/s':>7} {'x 1 proc':>8} "
          f"{'worker CPU s':>12} {'jobs/CPU-s':>10} {'cmds/job':>8} {'Redis CPU ms/job':>16}")
    for r in rounds:
        print(f"{r.processes:9} {r.processes * args.concurrency:7} {r.jobs:6,} {r.seconds:7.1f} {r.rate:7.1f} "
              f"{r.rate / rounds[0].rate:8.2f} {r.worker_cpu_s:12.1f} {r.jobs / r.worker_cpu_s:10.1f} "
              f"{r.commands / r.jobs:8.1f} {r.redis_cpu_s / r.jobs * 1000:16.3f}")
    total: Counter[str] = Counter()
    for r in rounds:
        total.update(r.by_command)
    jobs = sum(r.jobs for r in rounds)
    top = total.most_common(8)
    print("  Redis commands per job, all rounds: " + ", ".join(f"{k} {n / jobs:.2f}" for k, n in top))


def print_capacity(capacities: list[Capacity]) -> None:
    tests = list(capacities[0].per_test)
    print(f"{'redis-benchmark':28} " + " ".join(f"{t:>9}" for t in tests) + f" {'mean':>9}  (requests/s)")
    for c in capacities:
        print(f"{c.label:28} " + " ".join(f"{c.per_test.get(t, 0):9,.0f}" for t in tests) + f" {c.mean:9,.0f}")


def print_fleet(rounds: list[Round], capacities: list[Capacity]) -> None:
    jobs = sum(r.jobs for r in rounds)
    per_cpu_s = jobs / sum(r.worker_cpu_s for r in rounds)
    per_job = sum(r.commands for r in rounds) / jobs
    redis_cpu_per_job = sum(r.redis_cpu_s for r in rounds) / jobs
    host_rate = per_cpu_s * WORKER_HOST_CORES
    rows: list[tuple[str, str]] = [
        ("jobs per worker CPU-second (all rounds)", f"{per_cpu_s:,.1f}"),
        (f"jobs/s per {WORKER_HOST_CORES}-core worker host, cores busy with workers only",
         f"{host_rate:,.0f}  (best measured here, sharing the cores with sandbox and Valkey: "
         f"{max(r.rate for r in rounds):,.1f})"),
        ("Redis commands per job", f"{per_job:.1f}"),
        ("Redis commands/s per 1,000 jobs/s", f"{per_job * 1000:,.0f}"),
        ("Redis CPU per job", f"{redis_cpu_per_job * 1000:.3f} ms"),
    ]
    carried = [(f"one Redis at {c.label} mean {c.mean:,.0f} ops/s", c.mean / per_job) for c in capacities]
    carried.append(("one Redis core at the measured Redis CPU per job", 1 / redis_cpu_per_job))
    for label, rate in carried:
        rows.append((f"jobs/s carried: {label}", f"{rate:,.0f}  = {math.ceil(rate / host_rate):,} "
                                                    f"{WORKER_HOST_CORES}-core worker hosts"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000, help="measured jobs per round")
    parser.add_argument("--processes", default="1,2,4", help="worker process counts, one round each")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured jobs at the start of each round")
    parser.add_argument("--bench-requests", type=int, default=200_000, help="redis-benchmark -n")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-scale-"))
    rng = random.Random(31)
    counts = [int(n) for n in args.processes.split(",")]
    rounds: list[Round] = []
    with common.bed(work, latency_ms=args.latency_ms) as b:
        from cancelq.runtime import Runtime

        rt = Runtime()
        for n in counts:
            warm, batch = common.orders(args.warmup, f"W{n}-", rng), common.orders(args.orders, f"S{n}-", rng)
            b.seed(warm + batch)
            rounds.append(drain(b, rt, warm, batch, args, n))
        twice = len(b.sandbox.stats()["cancelled_twice"])
        capacities = [redis_benchmark(b.redis_url, args.bench_requests, 16, 50),
                      redis_benchmark(b.redis_url, args.bench_requests, 1, 50)]
    print(f"{args.orders:,} mixed plain jobs per round, sandbox latency {args.latency_ms} ms, limits off, threads pool "
          f"x {args.concurrency} per process, on {len(os.sched_getaffinity(0))} cores (logs in {work})")
    print_rounds(rounds, args)
    print(f"  orders cancelled twice: {twice}")
    print()
    print_capacity(capacities)
    print()
    print("fleet on paper (Redis commands counted as INFO commandstats does, Lua scripts' own commands included):")
    print_fleet(rounds, capacities)


if __name__ == "__main__":
    main()
