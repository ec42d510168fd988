"""Campaign intake: a 100,000-row CSV into the queue, in rows/s and peak memory.

Starts a private Valkey, registers one shop per platform (no sandbox: intake makes no platform
call), writes a mixed CSV (four platforms, notes, some Lazada partial cancels, 0.5% invalid rows),
then runs ``cancelq campaign run FILE`` as a child process, as an operator would, and reads the
child's peak RSS from the kernel (``wait4``). It does the same with a file a tenth the size, to show
that memory does not grow with the file. Target: >= 5,000 rows/s, peak RSS < 200 MB.

    .venv/bin/python bench/campaign_intake.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cancelq.core.embedded import ValkeyProcess

SHOPS = {
    "shopee": ("bench-shopee", {"partner_id": 2001887, "partner_key": "bench_key_0123456789", "shop_id": 777001,
                                "access_token": "bench_token_shopee"}),
    "lazada": ("bench-lazada", {"app_key": "100132", "app_secret": "bench_secret", "country": "vn",
                                "access_token": "bench_token_lazada"}),
    "shopline": ("bench-shopline", {"handle": "bench", "access_token": "bench_token_shopline", "app_key": "k",
                                    "app_secret": "bench_secret"}),
    "shoplazza": ("bench-shoplazza", {"shop": "bench", "access_token": "bench_token_shoplazza", "client_id": "c",
                                      "client_secret": "bench_secret"}),
}
REASONS = {"shopee": "OUT_OF_STOCK", "lazada": "PRICING_ERROR", "shopline": "CUSTOMER_REQUEST", "shoplazza": "OTHER"}


def write_file(path: Path, rows: int, rng: random.Random) -> None:
    platforms = list(SHOPS)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["platform", "shop", "order_id", "reason", "note", "items"])
        for i in range(rows):
            platform = platforms[i % 4]
            reason = REASONS[platform] if rng.random() > 0.005 else "BECAUSE"
            items = json.dumps([{"order_item_id": 900000 + i}]) if platform == "lazada" and i % 10 == 1 else ""
            note = f"bulk cancel #{i}" if i % 3 == 0 else ""
            writer.writerow([platform, SHOPS[platform][0], f"{platform[:2].upper()}{rows}-{i:09d}", reason, note, items])


def run_intake(path: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, the child's peak RSS in MB, and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cancelq.cli.main", "campaign", "run", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"campaign run failed ({proc.returncode}):\n{output}")
    return elapsed, usage.ru_maxrss / 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-intake-"))
    rng = random.Random(5)
    with ValkeyProcess(work / "valkey") as valkey:
        env = {**os.environ, "CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_FORMAT": "json", "COLUMNS": "120"}
        os.environ.update(env)
        from cancelq.runtime import Runtime

        rt = Runtime()
        for platform, (name, credentials) in SHOPS.items():
            rt.shops.add(platform, name, credentials, base_url="http://127.0.0.1:9")
        for rows in (args.rows // 10, args.rows):
            path = work / f"campaign-{rows}.csv"
            write_file(path, rows, rng)
            rt.redis.delete("cancelq")
            elapsed, rss_mb, output = run_intake(path, env)
            intake_rate = re.search(r"\(([\d,]+) rows/s\)", output)
            sent = re.search(r"([\d,]+) jobs sent, ([\d,]+) invalid", output)
            queued = int(rt.redis.llen("cancelq"))
            print(f"{rows:>7,} rows ({path.stat().st_size / 1e6:.1f} MB CSV): {queued:,} messages queued, "
                  f"{sent.group(2) if sent else '?'} invalid rows")
            print(f"  intake            {intake_rate.group(1) if intake_rate else '?':>8} rows/s "
                  f"(file open to last batch sent)")
            print(f"  whole command     {rows / elapsed:8,.0f} rows/s ({elapsed:.1f} s, process start included)")
            print(f"  peak RSS          {rss_mb:8.1f} MB (the `cancelq campaign run` process)")
        memory = rt.redis.info("memory")["used_memory"] / 1e6
        print(f"valkey memory after both runs: {memory:.0f} MB (ledger, campaign rows, broker messages)")


if __name__ == "__main__":
    main()
