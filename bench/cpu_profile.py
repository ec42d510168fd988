"""Where a job's CPU goes in the worker: a cProfile (CPU clock) of one worker process, grouped by who spends it.

Starts a private Valkey and the sandbox, then one `cancelq worker` with the solo pool (every task runs in the
main thread, where the profiler is) under cProfile timed by ``time.process_time``, and drains ``--orders``
jobs of one flow (``shopee``: one call; ``lazada``: three). Prints, per job, the CPU each part spent in its
own code (cProfile's ``tottime``): Celery and kombu, the HTTP client (requests, urllib3, http.client, socket),
redis-py, JSON, logging, and cancelq by package (time in C built-ins and the standard library counted where it
was called from, one level up), then the functions that cost most. The profiler itself adds
to every call, so the figures are larger than in an unprofiled worker: compare the parts, not the total, with
other benchmarks.

    .venv/bin/python bench/cpu_profile.py [--flow lazada] [--orders 1000] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import common

GROUPS = (
    ("celery/kombu", ("/celery/", "/kombu/", "/billiard/", "/vine/", "/amqp/")),
    ("http client", ("/requests/", "/urllib3/", "/http/client.py", "/socket.py", "/selectors.py", "/ssl.py",
                     "/email/", "/idna/", "/charset_normalizer/", "/certifi/")),
    ("redis-py", ("/redis/",)),
    ("json", ("/json/",)),
    ("logging", ("/structlog/", "/logging/")),
    ("prometheus", ("/prometheus_client/",)),
)


SHARED = ("built-ins", "stdlib")
"""Time spent in C built-ins and the standard library is counted where it was called from (one level up)."""


def _group(path: str) -> str:
    if "/cancelq/" in path:
        rest = path.split("/cancelq/", 1)[1]
        return "cancelq." + (rest.split("/", 1)[0] if "/" in rest else rest.removesuffix(".py"))
    for name, needles in GROUPS:
        if any(n in path for n in needles):
            return name
    if path == "~":
        return "built-ins"
    return "other libraries" if "site-packages" in path else "stdlib"


def _attributed(stats: pstats.Stats) -> dict[str, float]:
    """Own time per group; what built-ins and the standard library spent goes to their callers' groups."""
    by_group: defaultdict[str, float] = defaultdict(float)
    for (file, _, _), (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        group = _group(file)
        if group not in SHARED or not callers:
            by_group[group] += tottime
            continue
        edges = {caller: edge[2] for caller, edge in callers.items()}
        spread = sum(edges.values()) or 1.0
        for (caller_file, _, _), edge_tt in edges.items():
            caller_group = _group(caller_file)
            name = caller_group if caller_group not in SHARED else f"{group} (from the stdlib)"
            by_group[name] += tottime * edge_tt / spread
    return by_group


def worker(out: str) -> None:
    """The profiled worker: the solo pool, so every task runs where the profiler is; stats written on exit."""
    from cancelq.cli.main import main

    sys.argv = ["cancelq", "worker", "--pool", "solo", "--concurrency", "1", "--hostname", "profiled@bench"]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        main()
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def drain(flow: str, orders: int, work: Path) -> Path:
    out = work / "worker.prof"
    with common.bed(work, platforms=(flow,)) as b:
        from cancelq.core import keys
        from cancelq.runtime import Runtime

        batch = common.orders(orders, "P", random.Random(7), {flow: 1.0}, shipped=0.0, cancelled=0.0)
        b.seed(batch)
        proc = common.start([sys.executable, __file__, "--worker", str(out)], b.env, work / "worker.log")
        rt = Runtime()
        common.wait(lambda: rt.redis.exists(keys.worker("profiled@bench")), 60, "the profiled worker")
        finals = common.Finals(rt, common.submit_plain(rt, b, batch))
        common.wait(finals.done, 900, "every job final", poll_s=0.5)
        common.stop([proc])
    return out


def report(path: Path, orders: int, top: int) -> None:
    stats = pstats.Stats(str(path))
    by_group = _attributed(stats)
    rows = [(tottime, calls, f"{Path(file).name}:{line} {name}" if file != "~" else name)
            for (file, line, name), (_, calls, tottime, _, _) in stats.stats.items()]  # type: ignore[attr-defined]
    total = sum(by_group.values())
    print(f"CPU per job in the worker's main thread: {1000 * total / orders:.2f} ms (profiled)")
    for name, seconds in sorted(by_group.items(), key=lambda kv: -kv[1]):
        if 1000 * seconds / orders < 0.0005:
            continue
        print(f"  {name:24s} {1000 * seconds / orders:6.3f} ms  {100 * seconds / total:5.1f}%")
    print(f"the {top} functions that cost most (own time, ms per job, calls per job):")
    for tottime, calls, where in sorted(rows, reverse=True)[:top]:
        print(f"  {1000 * tottime / orders:6.3f} ms  {calls / orders:6.1f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", choices=("shopee", "lazada"), default="lazada")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-profile-"))
    print(f"{args.orders} {args.flow} jobs through one profiled worker (solo pool); logs in {work}")
    report(drain(args.flow, args.orders, work), args.orders, args.top)


if __name__ == "__main__":
    main()
