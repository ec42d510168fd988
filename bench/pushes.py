"""The push receiver (``POST /pushes/{platform}``): latency at a paced 1,000 pushes/s, and the most it takes.

Starts a private Valkey with one shop per platform and ``cancelq api`` as its own process (JSON access log to a
file), then sends pushes signed here (plain hmac, as the platforms sign them: Shopee over the callback URL, Lazada
over app_key + body, Shopline and Shoplazza base64 over the body), a quarter on each platform, each with its own
order and message id and 5% sent twice (answered as duplicates). The load generator is aiohttp's client in this
process, on the same 2 cores.

1. **Paced**: ``--paced`` pushes at ``--rate`` per second (open loop: each leaves at its slot, whatever the
   answers before it, up to 64 in flight). Printed: the rate reached, p50 / p99 / max latency (from the
   push's slot to its answer, so queueing in the client counts), answers that were not 200.
2. **Flat out**: ``--flat`` pushes from 32 keep-alive connections as fast as they are answered. Printed: pushes/s
   and the API's CPU per push.

Both check that ``cq:pushes`` holds each distinct message once.

    .venv/bin/python bench/pushes.py [--paced 10000] [--rate 1000] [--flat 10000] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from common import cpu_seconds, start, stop, wait

PUBLIC_URL = "https://cancelq.example.com"
SHOPS: dict[str, dict[str, Any]] = {
    "shopee": {"partner_id": 1, "partner_key": "bench_partner_key", "shop_id": 1001, "access_token": "t"},
    "lazada": {"app_key": "100", "app_secret": "bench_app_secret", "access_token": "t", "seller_id": "2001"},
    "shopline": {"handle": "bench-store", "access_token": "t", "app_key": "k", "app_secret": "bench_shopline_secret"},
    "shoplazza": {"shop": "bench-store", "access_token": "t", "client_id": "c", "client_secret": "bench_lz_secret"},
}
Push = tuple[str, bytes, dict[str, str]]


def _hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _b64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def push(platform: str, n: int, tag: str) -> Push:
    """One signed push of order ``{tag}-{n}``, cancelled."""
    order, now = f"{tag}-{n:08d}", int(time.time())
    creds = SHOPS[platform]
    if platform == "shopee":
        body = json.dumps({"msg_id": f"{tag}{n}", "shop_id": creds["shop_id"], "code": 3, "timestamp": now,
                           "data": {"ordersn": order, "status": "CANCELLED", "update_time": now}}).encode()
        return platform, body, {"Authorization": _hex(creds["partner_key"], f"{PUBLIC_URL}/pushes/shopee|".encode()
                                                      + body)}
    if platform == "lazada":
        body = json.dumps({"seller_id": creds["seller_id"], "message_type": 0, "timestamp": now * 1000, "data": {
            "order_status": "canceled", "trade_order_id": order, "trade_order_line_id": f"{zlib.crc32(tag.encode())}{n:08d}",
            "status_update_time": now}}).encode()
        return platform, body, {"Authorization": _hex(creds["app_secret"], creds["app_key"].encode() + body)}
    prefix, domain = ("X-Shopline", ".myshopline.com") if platform == "shopline" else ("X-Shoplazza", ".myshoplaza.com")
    secret = creds["app_secret"] if platform == "shopline" else creds["client_secret"]
    body = json.dumps({"id": order, "status": "cancelled", "updated_at": "2026-12-01T12:00:00+00:00"}).encode()
    id_header = f"{prefix}-Webhook-Id" if platform == "shopline" else f"{prefix}-Deduplication-ID"
    return platform, body, {f"{prefix}-Hmac-Sha256": _b64(secret, body), f"{prefix}-Topic": "orders/cancelled",
                            f"{prefix}-Shop-Domain": f"bench-store{domain}", id_header: f"{tag}{n}"}


def pushes(total: int, tag: str, rng: random.Random) -> list[Push]:
    platforms = list(SHOPS)
    made = [push(platforms[n % 4], n, tag) for n in range(int(total * 0.95))]
    made += [rng.choice(made) for _ in range(total - len(made))]
    rng.shuffle(made)
    return made


async def paced(url: str, batch: list[Push], rate: float, senders: int = 64) -> tuple[float, list[float], int]:
    """(wall seconds, latencies in ms from each push's slot, answers not 200): ``senders`` coroutines take the
    next push, wait for its slot and send it, so a slow answer delays only pushes queued behind all of them."""
    latencies: list[float] = []
    failures = 0
    slots = iter(enumerate(batch))
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=senders)) as client:
        started = time.perf_counter()

        async def sender() -> None:
            nonlocal failures
            for i, (platform, body, headers) in slots:
                slot = started + i / rate
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                async with client.post(f"/pushes/{platform}", data=body, headers=headers) as answer:
                    await answer.read()
                    failures += answer.status != 200
                latencies.append((time.perf_counter() - slot) * 1000)

        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - started, latencies, failures


async def flat(url: str, batch: list[Push], connections: int = 32) -> tuple[float, int]:
    queue = iter(batch)
    failures = 0
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=connections)) as client:
        async def one_connection() -> None:
            nonlocal failures
            for platform, body, headers in queue:
                async with client.post(f"/pushes/{platform}", data=body, headers=headers) as answer:
                    await answer.read()
                    failures += answer.status != 200

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return time.perf_counter() - started, failures


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(url: str, pid: int, rt: Any, args: argparse.Namespace) -> None:
    from cancelq.core import keys

    rng = random.Random(17)
    asyncio.run(flat(url, pushes(500, "warm", rng), 8))
    before = rt.redis.xlen(keys.PUSHES)
    batch = pushes(args.paced, "paced", rng)
    wall, latencies, failed = asyncio.run(paced(url, batch, args.rate))
    kept = rt.redis.xlen(keys.PUSHES) - before
    distinct = len({(p, b) for p, b, _ in batch})
    print(f"paced at {args.rate:,.0f}/s, {args.workers} API process(es): {len(batch) / wall:,.0f} pushes/s reached; "
          f"latency p50 {_percentile(latencies, 0.5):.1f} ms, p99 {_percentile(latencies, 0.99):.1f} ms, "
          f"max {max(latencies):.1f} ms; {failed} not 200; kept {kept} of {distinct} distinct")
    before = rt.redis.xlen(keys.PUSHES)
    batch = pushes(args.flat, "flat", rng)
    cpu = cpu_seconds([pid])
    wall, failed = asyncio.run(flat(url, batch))
    per_push = (cpu_seconds([pid]) - cpu) / len(batch)
    kept = rt.redis.xlen(keys.PUSHES) - before
    print(f"flat out, 32 connections: {len(batch) / wall:,.0f} pushes/s ({len(batch)} in {wall:.1f}s, {failed} not "
          f"200); API CPU {per_push * 1000:.2f} ms per push; kept {kept} of {len({(p, b) for p, b, _ in batch})}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paced", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--flat", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="API processes (cancelq api --workers)")
    args = parser.parse_args()
    from cancelq.core.embedded import ValkeyProcess, free_port
    from cancelq.runtime import Runtime

    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-pushes-"))
    with ValkeyProcess(work / "valkey") as valkey:
        os.environ.update({"CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_FORMAT": "json",
                           "CANCELQ_PUSH_PUBLIC_URL": PUBLIC_URL})
        os.environ.pop("CANCELQ_BROKER_URL", None)
        os.environ.pop("CANCELQ_CONFIG", None)
        rt = Runtime()
        for platform, credentials in SHOPS.items():
            rt.shops.add(platform, f"bench-{platform}", credentials)
        port = free_port()
        api = start([sys.executable, "-m", "cancelq.cli.main", "api", "--port", str(port), "--workers",
                     str(args.workers)], dict(os.environ), work / "api.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait(lambda: _answers(url), 30, "the API")
            measure(url, api.pid, rt, args)
        finally:
            stop([api])


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    main()
