"""Memory: one cancelq worker's RSS before and after 50,000 jobs; growth under 10%.

Starts a private Valkey and the sandbox (no added latency, shops' limits out of the way) and one
cancelq worker process (``cancelq worker``, threads pool: the worker is one process, so its RSS is
the worker's memory). A warm-up of ``--warmup`` plain jobs fills imports, connection pools and
caches; the worker's RSS after it is "before". The default is 5,000: after 2,000 jobs a worker of 16
threads is still filling its pools (a run from there grew 9% by 10,000 jobs, then 1% over 40,000 more). Then ``--jobs`` more plain jobs (four platforms
mixed; ~92% cancellable, 5% already cancelled, 3% shipped, so every outcome and the dead letters
are exercised) are sent in chunks of ``--chunk``, never more than two chunks outstanding, so the
queue and Redis are not inflated by 50,000 messages at once. The worker's RSS is sampled every
``--sample-every`` jobs and once more at the end ("after").

Printed: the RSS series, before and after, the growth in % and PASS/FAIL against ``--max-growth-pct``
(10); Redis ``used_memory`` before and after, for information only (the ledger keeps a record per
job, so it grows with the number of jobs by design).

    .venv/bin/python bench/memory_growth.py [--jobs 50000] [--warmup 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common


@dataclass
class Sample:
    """The worker's and the server's memory after ``jobs`` jobs of the measured run."""

    jobs: int
    seconds: float
    rss_mb: float
    redis_mb: float


@dataclass
class Chunk:
    finals: common.Finals
    size: int


class Meter:
    """Samples the worker's RSS and Redis used_memory every ``every`` jobs."""

    def __init__(self, b: common.Bed, worker: subprocess.Popen[bytes], every: int) -> None:
        self.b = b
        self.worker = worker
        self.every = every
        self.started = time.perf_counter()
        self.samples: list[Sample] = []

    def snapshot(self, jobs: int) -> Sample:
        if self.worker.poll() is not None:
            raise SystemExit(f"the worker exited with {self.worker.returncode}; see {self.b.work}")
        return Sample(jobs, time.perf_counter() - self.started, common.rss_mb(self.worker.pid),
                      common.redis_memory_mb(self.b.redis_url))

    def take(self, jobs: int) -> Sample:
        self.samples.append(self.snapshot(jobs))
        return self.samples[-1]

    def maybe(self, jobs: int) -> None:
        last = self.samples[-1].jobs if self.samples else 0
        if jobs // self.every > last // self.every:
            self.take(jobs)


def run_jobs(rt: Any, b: common.Bed, batch: list[dict[str, Any]], chunk: int, meter: Meter | None = None) -> None:
    """Sends the orders chunk by chunk with at most two chunks outstanding, until all are final."""
    outstanding: deque[Chunk] = deque()
    done = 0
    for i in range(0, len(batch), chunk):
        part = batch[i:i + chunk]
        outstanding.append(Chunk(common.Finals(rt, common.submit_plain(rt, b, part)), len(part)))
        if len(outstanding) >= 2:
            done += finish(outstanding.popleft())
            if meter is not None:
                meter.maybe(done)
    while outstanding:
        done += finish(outstanding.popleft())
        if meter is not None:
            meter.maybe(done)


def finish(chunk: Chunk) -> int:
    common.wait(chunk.finals.done, 600, "a chunk of jobs to finish", poll_s=0.1)
    return chunk.size


def report(args: argparse.Namespace, warm_s: float, before: Sample, meter: Meter, work: Path, twice: int) -> None:
    after = meter.samples[-1]
    growth = (after.rss_mb - before.rss_mb) / before.rss_mb * 100
    print(f"one cancelq worker process, threads pool x {args.concurrency}, sandbox latency 0 ms, limits off, "
          f"mixed platforms (logs in {work})")
    print(f"warm-up: {args.warmup:,} jobs in {warm_s:.1f} s; measured: {after.jobs:,} jobs in "
          f"{after.seconds:.1f} s ({after.jobs / after.seconds:.1f} jobs/s), chunks of {args.chunk:,}")
    print()
    print(f"{'jobs':>8} {'elapsed s':>9} {'worker RSS MB':>13} {'vs before':>9} {'Redis used MB':>13}")
    print(f"{'before':>8} {0.0:9.1f} {before.rss_mb:13.1f} {'':>9} {before.redis_mb:13.1f}")
    for s in meter.samples:
        pct = (s.rss_mb - before.rss_mb) / before.rss_mb * 100
        print(f"{s.jobs:8,} {s.seconds:9.1f} {s.rss_mb:13.1f} {pct:+8.1f}% {s.redis_mb:13.1f}")
    print()
    verdict = "PASS" if growth < args.max_growth_pct else "FAIL"
    print(f"worker RSS: before {before.rss_mb:.1f} MB, after {after.rss_mb:.1f} MB, growth {growth:+.1f}% "
          f"(limit {args.max_growth_pct:g}%): {verdict}")
    print(f"Redis used_memory (information): before {before.redis_mb:.1f} MB, after {after.redis_mb:.1f} MB, "
          f"{(after.redis_mb - before.redis_mb) * 2**20 / after.jobs:,.0f} bytes per measured job")
    print(f"orders cancelled twice: {twice}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000, help="measured jobs, after the warm-up")
    parser.add_argument("--warmup", type=int, default=5_000, help="jobs before the 'before' RSS is taken")
    parser.add_argument("--concurrency", type=int, default=16, help="threads in the worker process")
    parser.add_argument("--chunk", type=int, default=1_000, help="jobs submitted at a time (two chunks in flight)")
    parser.add_argument("--sample-every", type=int, default=5_000, help="jobs between RSS samples")
    parser.add_argument("--max-growth-pct", type=float, default=10.0, help="PASS when RSS grows by less than this")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-memory-"))
    rng = random.Random(23)
    with common.bed(work, latency_ms=0) as b:
        from cancelq.runtime import Runtime

        rt = Runtime()
        warm, measured = common.orders(args.warmup, "W", rng), common.orders(args.jobs, "M", rng)
        b.seed(warm + measured)
        worker = common.cancelq_workers(b, 1, args.concurrency, "mem")[0]
        try:
            started = time.perf_counter()
            run_jobs(rt, b, warm, args.chunk)
            warm_s = time.perf_counter() - started
            meter = Meter(b, worker, every=args.sample_every)
            before = meter.snapshot(0)
            run_jobs(rt, b, measured, args.chunk, meter)
            if not meter.samples or meter.samples[-1].jobs != len(measured):
                meter.take(len(measured))
        finally:
            common.stop([worker])
        twice = len(b.sandbox.stats()["cancelled_twice"])
    report(args, warm_s, before, meter, work, twice)


if __name__ == "__main__":
    main()
