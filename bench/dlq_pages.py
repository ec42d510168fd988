"""The console's dead-letter query at scale: a page of 50 out of ``--entries`` (100,000) dead letters.

Fills a private Valkey with entries as a store written before the indexes existed (the tests' generator,
``tests/jobs/lua/many_dead.lua``), times the upgrade step that indexes them, then the median time of a page
for filters on none, one, two and three dimensions, deep in the list, with ``since``, a search by order id,
and the counts the tab shows; and the memory the indexes take.

    .venv/bin/python bench/dlq_pages.py [--entries 100000] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.jobs.deadletters import DeadFilter, DeadLetters
from cancelq.jobs.ledger import now_ms

GENERATOR = Path(__file__).resolve().parent.parent / "tests" / "jobs" / "lua" / "many_dead.lua"


def median_ms(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def memory_mb(client: redis.Redis) -> float:
    return float(client.info("memory")["used_memory"]) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    server = ValkeyProcess(Path(tempfile.mkdtemp(prefix="bench-dlq-")))
    client = redis.Redis.from_url(server.start(), decode_responses=True)
    try:
        newest = now_ms()
        client.eval(GENERATOR.read_text(), 1, keys.DLQ, args.entries, newest, keys.dlq_entry(""))
        store = DeadLetters(client)
        before = memory_mb(client)
        started = time.perf_counter()
        store.ensure_indexed()
        print(f"upgrade step: indexed {args.entries} entries in {time.perf_counter() - started:.2f} s; "
              f"indexes take {memory_mb(client) - before:.1f} MB of {memory_mb(client):.1f} MB")
        cases: dict[str, Callable[[], Any]] = {
            "no filter, first page": lambda: store.page(),
            "no filter, page 1000": lambda: store.page(offset=args.entries // 2),
            "code": lambda: store.page(DeadFilter(code="ApiCallLimit")),
            "code + platform": lambda: store.page(DeadFilter(code="ApiCallLimit", platform="lazada")),
            "code + platform, uncached": lambda: (client.delete(*client.keys(keys.dlq_query("*"))),
                                                  store.page(DeadFilter(code="ApiCallLimit", platform="lazada"))),
            "kind + platform + shop": lambda: store.page(DeadFilter(kind="poison", platform="shopee", shop="shop-4")),
            "kind + since (last 30 s)": lambda: store.page(DeadFilter(kind="poison", since_ms=newest - 30_000)),
            "search by order id": lambda: store.page(search="ORD-4242"),
            "counts for the tab": lambda: store.counts(),
        }
        for name, call in cases.items():
            print(f"{name:28} {median_ms(call, args.runs):7.2f} ms (median of {args.runs})")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
