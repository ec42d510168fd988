"""How many requests per second the sandbox serves on one core.

Starts the sandbox in its own process, seeds a Shopee shop and order, then an
aiohttp client in this process sends signed get_order_detail calls (the sandbox
verifies every signature, token and timestamp) from many connections for a
fixed time. Prints requests/s and the sandbox's own CPU seconds, so the figure
per core holds even though the client shares the machine.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 8] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import time

import aiohttp

from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

PARTNER_ID, PARTNER_KEY, SHOP_ID, TOKEN = 2001887, "bench_partner_key_0123456789", 777001, "bench_access_token_42"
PATH = "/api/v2/order/get_order_detail"


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _signed_url(base: str) -> str:
    ts = int(time.time())
    sign = hmac.new(PARTNER_KEY.encode(), f"{PARTNER_ID}{PATH}{ts}{TOKEN}{SHOP_ID}".encode(), hashlib.sha256)
    return (f"{base}{PATH}?partner_id={PARTNER_ID}&timestamp={ts}&access_token={TOKEN}&shop_id={SHOP_ID}"
            f"&sign={sign.hexdigest()}&order_sn_list=BENCH-1")


async def _load(url: str, seconds: float, connections: int) -> tuple[int, int]:
    done = errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal done, errors
            while time.monotonic() < deadline:
                async with session.get(url) as response:
                    body = await response.json()
                    if response.status != 200 or body.get("error"):
                        errors += 1
                done += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    with SandboxProcess() as proc:
        control = SandboxClient(proc.url)
        control.add_shop("shopee", partner_id=PARTNER_ID, partner_key=PARTNER_KEY, shop_id=SHOP_ID,
                         access_token=TOKEN)
        control.add_order("shopee", str(SHOP_ID), "BENCH-1", state="cancellable")
        assert proc._proc is not None
        pid = proc._proc.pid
        cpu_before, started = _cpu_s(pid), time.monotonic()
        done, errors = asyncio.run(_load(_signed_url(proc.url), args.seconds, args.connections))
        elapsed, cpu = time.monotonic() - started, _cpu_s(pid) - cpu_before
    print(f"sandbox: {done} signed Shopee get_order_detail calls in {elapsed:.1f}s "
          f"from {args.connections} connections, {errors} errors")
    print(f"  wall rate      {done / elapsed:8.0f} req/s (client and sandbox share 2 cores)")
    print(f"  sandbox CPU    {cpu:8.2f} s  -> {done / cpu:.0f} req per sandbox CPU-second (one core)")


if __name__ == "__main__":
    main()
