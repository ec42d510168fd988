"""What the guard rails (issue 18) cost a job, off and on.

Starts a private Valkey and prints, per call: the worker-side checks every job now makes (the clock state,
the Date-header response hook), and one gate script call for a write without a budget and with one (the
budget rides in the same call: the figure is the script's time, not an extra round trip).

    .venv/bin/python bench/guard_costs.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import redis

from cancelq.core.clock import WorkerClock
from cancelq.core.embedded import ValkeyProcess
from cancelq.gate.budget import Budget
from cancelq.gate.limits import Gate, Lease, Limit, WriteMark


def _per_call_us(fn: object, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    calls = parser.parse_args().calls
    clock = WorkerClock()
    answer = SimpleNamespace(headers={"Date": "Tue, 01 Dec 2026 12:00:00 GMT"})
    print(f"clock.fault_for (every job)        {_per_call_us(lambda: clock.fault_for('shopee'), calls):8.2f} us")
    print(f"response hook (every platform call) {_per_call_us(lambda: clock.response_hook(answer), calls):7.2f} us")
    valkey = ValkeyProcess(Path(tempfile.mkdtemp(prefix="cancelq-bench-")))
    client = redis.Redis.from_url(valkey.start(), decode_responses=True)
    try:
        gate = Gate(client)
        limit = [("shopee:1:s", Limit(1e9, 1_000_000))]
        budget = Budget("shopee/s", 10**9, 86400.0)
        n = max(calls // 10, 1000)
        plain, budgeted = WriteMark("cancel", ("all",)), WriteMark("cancel", ("all",), budget)
        # alternated, three rounds each: the machine's speed drifts
        for label, mark in [(k, m) for _ in range(3) for k, m in (("write, no budget", plain),
                                                                  ("write, with a budget", budgeted))]:
            jobs = iter(range(10**9))
            cost = _per_call_us(lambda mark=mark, jobs=jobs: gate.check(
                limits=limit, cooldowns=[], circuits=[], job_id=f"j{next(jobs)}", lease=Lease(120000, 120000),
                mark=mark), n)
            print(f"gate call, {label:22s} {cost:8.1f} us (one round trip)")
    finally:
        client.close()
        valkey.stop()


if __name__ == "__main__":
    main()
