"""Where a job's Redis commands go: per job, by owner (cancelq's ledger and limiter, or Celery's broker and
events) and by who sent them (the client, or a Lua script on the server).

Runs ``--orders`` one-call (Shopee) jobs, or three-call (Lazada) with ``--flow lazada``, through one
worker while MONITOR records every command the server runs, including those a Lua script runs
(INFO commandstats counts both kinds, so the two figures agree). Commands on ``{cq}:*`` keys, and the
scripts that touch them, are cancelq's; the rest (the queue list, ``unacked``, event PUBLISHes) are the
broker's. Idle traffic (the pump's poll, heartbeats) is counted apart, from a quiet second after the run.

    .venv/bin/python bench/redis_cost.py [--orders 300] [--flow shopee]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import common
import redis

from cancelq.core import keys


def owner(command: str) -> str:
    words = command.split(" ")
    name = words[0].upper()
    if name in ("EVALSHA", "EVAL"):
        return "cancelq"
    if any(w.startswith(f"{keys.PREFIX}:") for w in words[1:3]):
        return "cancelq"
    return "broker"


class Recorder(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.r = redis.Redis.from_url(url)
        self.lines: list[tuple[float, str, bool]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with self.r.monitor() as monitor:
            for event in monitor.listen():
                self.lines.append((float(event["time"]), event["command"], event.get("client_type") == "lua"))
                if self.stopping.is_set():
                    return


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--flow", default="shopee", choices=["shopee", "lazada", "shopline", "shoplazza"])
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelq-bench-redis-cost-"))
    rng = random.Random(5)
    with common.bed(work, platforms=(args.flow,)) as b:
        from cancelq.runtime import Runtime

        rt = Runtime()
        warm = common.orders(20, "W", rng, {args.flow: 1.0}, shipped=0, cancelled=0)
        batch = common.orders(args.orders, "R", rng, {args.flow: 1.0}, shipped=0, cancelled=0)
        b.seed(warm + batch)
        procs = common.cancelq_workers(b, 1, args.concurrency, "rc")
        try:
            finals = common.Finals(rt, common.submit_plain(rt, b, warm))
            common.wait(finals.done, 60, "the warm-up jobs")
            recorder = Recorder(b.redis_url)
            recorder.start()
            time.sleep(0.5)  # MONITOR is on once the server has answered the recorder
            started = time.time()
            ids = common.submit_plain(rt, b, batch)
            finals = common.Finals(rt, ids)
            common.wait(finals.done, 300, "the jobs", poll_s=0.5)
            ended = time.time()
            time.sleep(2.0)  # a quiet stretch after the run: the idle traffic's rate
            recorder.stopping.set()
            rt.redis.ping()
            recorder.join(timeout=5)
        finally:
            common.stop(procs)
    polls = {f"HGET {keys.job(j)} state" for j in ids}
    run = [(t, c, lua) for t, c, lua in recorder.lines if started <= t <= ended and c not in polls]
    idle = [(t, c, lua) for t, c, lua in recorder.lines if ended + 0.5 < t and c not in polls]
    idle_per_s = len(idle) / max(0.1, recorder.lines[-1][0] - ended - 0.5) if idle else 0.0
    seconds = ended - started
    n = len(ids)
    by: Counter[tuple[str, bool]] = Counter()
    names: Counter[tuple[str, str]] = Counter()
    last_script_owner = "cancelq"
    for _, command, lua in run:
        who = last_script_owner if lua else owner(command)
        if not lua:
            last_script_owner = who
        by[(who, lua)] += 1
        names[(who, command.split(" ")[0].upper())] += 1
    idle_share = idle_per_s * seconds / n
    idle_seconds = max(0.1, recorder.lines[-1][0] - ended - 0.5) if idle else 1.0
    idle_owned: Counter[str] = Counter()
    last_idle_owner = "cancelq"
    for _, command, lua in idle:
        who = last_idle_owner if lua else owner(command)
        if not lua:
            last_idle_owner = who
        idle_owned[who] += 1
    print(f"{n} {args.flow} jobs through one worker x {args.concurrency} threads in {seconds:.1f} s "
          f"(logs in {work}); commands per job, as the server ran them:")
    print(f"  {'':10} {'sent by client':>15} {'run by a script':>16} {'all':>6}")
    for who in ("cancelq", "broker"):
        sent, scripted = by[(who, False)] / n, by[(who, True)] / n
        print(f"  {who:10} {sent:15.1f} {scripted:16.1f} {sent + scripted:6.1f}")
    total = sum(by.values()) / n
    print(f"  {'all':10} {'':15} {'':16} {total:6.1f}   (idle traffic, pump and heartbeats: "
          f"{idle_per_s:.0f}/s, {idle_share:.2f} per job at this rate)")
    for who in ("cancelq", "broker"):
        own = (by[(who, False)] + by[(who, True)]) / n
        print(f"  {who} per job, net of its idle polling ({idle_owned[who] / idle_seconds:.0f}/s when idle): "
              f"{own - idle_owned[who] / idle_seconds * seconds / n:.1f}")
    print("  by command (per job):")
    for who in ("cancelq", "broker"):
        parts = ", ".join(f"{name} {count / n:.1f}" for (w, name), count in names.most_common() if w == who
                          and count / n >= 0.05)
        print(f"    {who}: {parts}")


if __name__ == "__main__":
    main()
