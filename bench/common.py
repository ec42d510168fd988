"""What the benchmarks share: a private Valkey and sandbox, kit shops, worker processes, and the meters.

Import it from a script in ``bench/`` (the folder is on ``sys.path`` when a script there runs).
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
SHARE = {"shopee": 0.35, "lazada": 0.30, "shopline": 0.20, "shoplazza": 0.15}
REASONS = {"shopee": "CUSTOMER_REQUEST", "lazada": "OUT_OF_STOCK", "shopline": "CUSTOMER_REQUEST",
           "shoplazza": "OTHER"}
NO_LIMITS = {"rate_per_s": 100_000, "burst": 100_000}


def kits() -> dict[str, Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.kits.lazada import KIT as LAZADA
    from tests.kits.shopee import KIT as SHOPEE
    from tests.kits.shoplazza import KIT as SHOPLAZZA
    from tests.kits.shopline import KIT as SHOPLINE

    return {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}


@dataclass
class Bed:
    """A private Valkey and sandbox with one unlimited shop per platform, named ``bench-<platform>``."""

    work: Path
    redis_url: str
    sandbox_url: str
    sandbox: Any
    kits: dict[str, Any]
    env: dict[str, str]
    shops: dict[str, str] = field(default_factory=dict)

    def seed(self, orders: list[dict[str, Any]]) -> None:
        seeded = [{**o, "shop": self.kits[o["platform"]].shop_ref} for o in orders]
        for i in range(0, len(seeded), 2000):  # the control API takes bodies up to 1 MB
            self.sandbox.add_orders(seeded[i:i + 2000])

    def calls(self) -> int:
        return sum(n for endpoints in self.sandbox.stats()["calls"].values() for n in endpoints.values())


@contextmanager
def bed(work: Path, *, latency_ms: int = 0, platforms: tuple[str, ...] = tuple(SHARE)) -> Iterator[Bed]:
    from cancelq.core.embedded import ValkeyProcess
    from cancelq.sandbox.control import SandboxClient
    from cancelq.sandbox.runner import SandboxProcess

    all_kits = kits()
    with ValkeyProcess(work / "valkey") as valkey, SandboxProcess() as sandbox_proc:
        sandbox = SandboxClient(sandbox_proc.url)
        credentials = {p: dict(all_kits[p].credentials) for p in platforms}
        env = {**os.environ, "CANCELQ_REDIS_URL": valkey.url, "CANCELQ_LOG_FORMAT": "json",
               "BENCH_BROKER": valkey.url, "BENCH_SANDBOX": sandbox_proc.url,
               "BENCH_CREDENTIALS": json.dumps(credentials)}
        env.pop("CANCELQ_CONFIG", None)
        env.pop("CANCELQ_BROKER_URL", None)
        os.environ.update(env)
        os.environ.pop("CANCELQ_CONFIG", None)
        os.environ.pop("CANCELQ_BROKER_URL", None)
        from cancelq.runtime import Runtime

        rt = Runtime()
        test_bed = Bed(work, valkey.url, sandbox_proc.url, sandbox, all_kits, env)
        for platform in platforms:
            sandbox.add_shop(platform, **all_kits[platform].shop_spec)
            test_bed.shops[platform] = f"bench-{platform}"
            rt.shops.add(platform, test_bed.shops[platform], credentials[platform], base_url=sandbox_proc.url,
                         limits={**NO_LIMITS, "per_api": platform == "lazada"})
            if latency_ms:
                sandbox.fault(platform, "latency", latency_ms=latency_ms, times=None)
        yield test_bed


def orders(total: int, prefix: str, rng: random.Random, share: dict[str, float] | None = None,
           *, shipped: float = 0.03, cancelled: float = 0.05) -> list[dict[str, Any]]:
    """Orders by platform share: mostly cancellable, some already cancelled, some shipped; shuffled."""
    out = []
    for platform, part in (share or SHARE).items():
        for i in range(round(total * part)):
            roll = rng.random()
            state = "shipped" if roll < shipped else "cancelled" if roll < shipped + cancelled else "cancellable"
            out.append({"platform": platform, "order_id": f"{prefix}{platform[:2].upper()}-{i:06d}", "state": state})
    rng.shuffle(out)
    return out


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(poll_s)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cancelq_workers(b: Bed, count: int, concurrency: int, tag: str, *, pool: str = "threads"
                    ) -> list[subprocess.Popen[bytes]]:
    """``count`` cancelq worker processes, started and ready (their heartbeat keys exist)."""
    import redis

    from cancelq.core import keys

    procs = [start([sys.executable, "-m", "cancelq.cli.main", "worker", "--concurrency", str(concurrency),
                    "--pool", pool, "--hostname", f"{tag}{i}@bench"], b.env, b.work / f"{tag}-worker.log")
             for i in range(count)]
    r = redis.Redis.from_url(b.redis_url)
    wait(lambda: all(r.exists(keys.worker(f"{tag}{i}@bench")) for i in range(count)), 60, "the cancelq workers")
    return procs


def submit_plain(rt: Any, b: Bed, batch: list[dict[str, Any]]) -> list[str]:
    """The orders as plain jobs (no campaign), through the ledger's batched intake; returns the job ids."""
    from cancelq.campaigns.intake import Publisher
    from cancelq.jobs.contract import parse_job

    jobs = [parse_job({"platform": o["platform"], "shop": b.shops[o["platform"]], "order_id": o["order_id"],
                       "reason": REASONS[o["platform"]]}) for o in batch]
    ids: list[str] = []
    for i in range(0, len(jobs), 500):
        chunk = jobs[i:i + 500]
        part = [admitted.job_id for admitted in rt.ledger.intake_many(chunk)]
        Publisher(rt).send(part, jobs={job_id: job.encoded() for job_id, job in zip(part, chunk, strict=True)})
        ids += part
    return ids


class Finals:
    """Polls job states until all are final, counting the commands it sends (to subtract from commandstats).

    Jobs finish roughly in the order sent, so each poll reads the oldest pending ones in chunks and
    stops at the first chunk with a job still open: a poll costs tens of reads, not one per job.
    """

    CHUNK = 64

    def __init__(self, rt: Any, ids: list[str]) -> None:
        self.rt = rt
        self.pending = list(ids)
        self.sent = 0

    def done(self) -> bool:
        from cancelq.core import keys
        from cancelq.jobs.ledger import FINAL_STATES

        while self.pending:
            chunk = self.pending[:self.CHUNK]
            pipe = self.rt.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hget(keys.job(job_id), "state")
            self.sent += len(chunk)
            states = pipe.execute()
            still = [j for j, s in zip(chunk, states, strict=True) if s not in FINAL_STATES]
            self.pending = still + self.pending[self.CHUNK:]
            if still:
                return False
        return True


def commands(redis_url: str) -> int:
    """Commands the server has run so far (INFO commandstats), not counting INFO itself."""
    import redis

    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their children so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        for p in [pid, *_children(pid)]:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / tick


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        for task in tasks:
            for child in (task / "children").read_text().split():
                out += [int(child), *_children(int(child))]
    except OSError:
        pass
    return out


BARE_QUEUE = "bare"
BARE_DONE = "bench:bare:done"


def bare_message(args: list[str]) -> str:
    """A Celery protocol-2 message for ``bench.bare_cancel``, as the Redis transport stores it."""
    task_id = str(uuid.uuid4())
    body = base64.b64encode(json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                   "chord": None}]).encode()).decode()
    return json.dumps({
        "body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": "bench.bare_cancel", "id": task_id, "root_id": task_id, "parent_id": None,
                    "group": None, "retries": 0, "timelimit": [None, None], "eta": None, "expires": None},
        "properties": {"correlation_id": task_id, "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": BARE_QUEUE}, "delivery_tag": task_id},
    })


def bare_workers(b: Bed, count: int, concurrency: int, *, pool: str = "threads", events: bool = False
                 ) -> list[subprocess.Popen[bytes]]:
    """``count`` bare Celery workers running ``bare_app.bare_cancel``; warmed up with one task.

    ``events``: with task events on (``-E``), as cancelq runs for Flower.
    """
    import redis

    bare_env = {**b.env, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), b.env.get("PYTHONPATH", "")])}
    procs = [start([sys.executable, "-m", "celery", "-A", "bare_app:bare", "worker", "--pool", pool,
                    "--concurrency", str(concurrency), "--queues", BARE_QUEUE, "--without-gossip",
                    "--without-mingle", "--without-heartbeat", "--loglevel", "warning", "--hostname",
                    f"bare{i}@bench", *(["--task-events"] if events else [])], bare_env, b.work / "bare-worker.log")
             for i in range(count)]
    r = redis.Redis.from_url(b.redis_url)
    b.sandbox.add_order("shopline", b.kits["shopline"].shop_ref, "WARM-UP", state="cancellable")
    r.set(BARE_DONE, 0)
    r.lpush(BARE_QUEUE, bare_message(["shopline", "WARM-UP", "CUSTOMER_REQUEST"]))
    wait(lambda: int(r.get(BARE_DONE) or 0) >= 1, 60, "the bare workers")
    r.set(BARE_DONE, 0)
    return procs


def submit_bare(b: Bed, batch: list[dict[str, Any]]) -> None:
    import redis

    pipe = redis.Redis.from_url(b.redis_url).pipeline(transaction=False)
    for o in batch:
        pipe.lpush(BARE_QUEUE, bare_message([o["platform"], o["order_id"], REASONS[o["platform"]]]))
    pipe.execute()


def bare_done(b: Bed) -> int:
    import redis

    return int(redis.Redis.from_url(b.redis_url).get(BARE_DONE) or 0)


def command_counts(redis_url: str) -> dict[str, int]:
    """Calls so far per command name (INFO commandstats), not counting INFO itself."""
    import redis

    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}


def redis_memory_mb(redis_url: str) -> float:
    """The server's ``used_memory`` (INFO memory), in MB."""
    import redis

    return int(redis.Redis.from_url(redis_url).info("memory")["used_memory"]) / 2**20


def redis_cpu_seconds(redis_url: str) -> float:
    """User + system CPU seconds the server has used so far (INFO cpu)."""
    import redis

    cpu = redis.Redis.from_url(redis_url).info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
