"""The HTTP API: single submits per second over 32 keep-alive connections, batch submits in jobs per second, and
the API's CPU per submitted job next to campaign intake's.

Starts a private Valkey with one shop per platform (no sandbox and no worker: a submit records the job and
queues its message, nothing more), ``cancelq api`` as its own process (access log on, JSON to a file), and an
API key. The load generator (aiohttp's client, in this process, on the same machine; httpx's async client spent
~5 ms of CPU per request here, more than the API, so it measured itself) then sends:

- single ``POST /v1/cancellations``, each a new order, from 32 keep-alive connections;
- ``POST /v1/cancellations/batch`` of 1,000 jobs, from 4 connections;

and reads the API process's CPU time from /proc before and after each phase. Campaign intake's CPU per job is
the same file size through ``CancelQ.run_campaign`` in this process. Targets: >= 800 single requests/s and
>= 5,000 jobs/s batched.

    .venv/bin/python bench/api.py [--singles 6000] [--batched 40000] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from common import cpu_seconds, start, stop, wait

SHOPS = {"shopee": {"partner_id": 1, "partner_key": "bench_key", "shop_id": 2, "access_token": "bench_token"},
         "lazada": {"app_key": "1", "app_secret": "bench_secret", "country": "vn", "access_token": "bench_token"}}
REASON = "CUSTOMER_REQUEST"


def job(i: int, tag: str) -> dict[str, Any]:
    platform = "shopee" if i % 2 else "lazada"
    return {"platform": platform, "shop": f"bench-{platform}", "order_id": f"{tag}-{i:08d}", "reason": REASON}


def session(url: str, token: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=connections),
                                 headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(60))


async def singles(url: str, token: str, total: int, tag: str) -> tuple[float, int]:
    """(wall seconds, answers that were not 202) for ``total`` single POSTs over 32 connections."""
    counter = itertools.count()
    failures = 0
    async with session(url, token, 32) as client:
        async def one_connection() -> None:
            nonlocal failures
            while (i := next(counter)) < total:
                async with client.post("/v1/cancellations", json=job(i, tag)) as answer:
                    await answer.read()
                    failures += answer.status != 202

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(32)))
        return time.perf_counter() - started, failures


async def batches(url: str, token: str, total: int, tag: str, size: int = 1000) -> tuple[float, int]:
    counter = itertools.count()
    created = 0
    async with session(url, token, 4) as client:
        async def one_connection() -> None:
            nonlocal created
            while (n := next(counter)) * size < total:
                body = {"jobs": [job(n * size + k, tag) for k in range(size)]}
                async with client.post("/v1/cancellations/batch", json=body) as answer:
                    reply = await answer.json()
                    if reply.get("created") != size:
                        print(f"  batch {n}: HTTP {answer.status} {str(reply)[:300]}")
                    created += reply.get("created", 0)

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(4)))
        return time.perf_counter() - started, created


def campaign_cpu_per_job(rows: int, work: Path) -> float:
    """CPU seconds per row of ``CancelQ.run_campaign`` on a CSV of the same jobs, in this process."""
    from cancelq.client import CancelQ
    from cancelq.runtime import Runtime

    path = work / "campaign.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["platform", "shop", "order_id", "reason"])
        for i in range(rows):
            row = job(i, "camp")
            writer.writerow([row["platform"], row["shop"], row["order_id"], row["reason"]])
    client = CancelQ(Runtime())
    started = time.process_time()
    result = client.run_campaign(path)
    assert result.sent == rows, result
    return (time.process_time() - started) / rows


def measure(url: str, token: str, pid: int, args: argparse.Namespace) -> None:
    asyncio.run(singles(url, token, 300 * args.workers, "warm"))
    cpu = cpu_seconds([pid])
    wall, failed = asyncio.run(singles(url, token, args.singles, "single"))
    single_cpu = (cpu_seconds([pid]) - cpu) / args.singles
    print(f"single submits, 32 keep-alive connections, {args.workers} API process(es): {args.singles / wall:,.0f} "
          "requests/s "
          f"({args.singles} in {wall:.1f}s, {failed} not 202); API CPU {single_cpu * 1000:.2f} ms per job")
    cpu = cpu_seconds([pid])
    wall, created = asyncio.run(batches(url, token, args.batched, "batch"))
    batch_cpu = (cpu_seconds([pid]) - cpu) / args.batched
    print(f"batch submits (1,000 a request, 4 connections): {args.batched / wall:,.0f} jobs/s "
          f"({created} created in {wall:.1f}s); API CPU {batch_cpu * 1000:.3f} ms per job")
    intake = campaign_cpu_per_job(args.batched, Path(tempfile.mkdtemp(prefix="cancelq-bench-camp-")))
    print(f"campaign intake (CancelQ.run_campaign, same jobs): CPU {intake * 1000:.3f} ms per job; "
          f"the API spends {single_cpu / intake:.1f}x that per single submit, {batch_cpu / intake:.1f}x per "
          "batched job")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=6000)
    parser.add_argument("--batched", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=1, help="API processes (cancelq api --workers)")
    args = parser.parse_args()
    from cancelq.api.apikeys import SCOPES, ApiKeys
    from cancelq.core.embedded import ValkeyProcess, free_port
    from cancelq.runtime import Runtime

    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-api-"))
    with ValkeyProcess(work / "valkey") as valkey:
        os.environ.update({"CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_FORMAT": "json"})
        os.environ.pop("CANCELQ_BROKER_URL", None)
        os.environ.pop("CANCELQ_CONFIG", None)
        rt = Runtime()
        for platform, credentials in SHOPS.items():
            rt.shops.add(platform, f"bench-{platform}", credentials)
        token = ApiKeys(rt.redis).create("bench", list(SCOPES))[1]
        port = free_port()
        env = {**os.environ, "CANCELQ_API_KEY_RATE_PER_S": "1000000", "CANCELQ_API_KEY_BURST": "1000000"}
        api = start([sys.executable, "-m", "cancelq.cli.main", "api", "--port", str(port), "--workers",
                     str(args.workers)], env, work / "api.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait(lambda: _answers(url), 30, "the API")
            measure(url, token, api.pid, args)
        finally:
            stop([api])


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    main()
