"""Seeded fuzzing at the broker boundary: thousands of messages of every kind, valid jobs among them, on the list.

The workers must never exit or reconnect, every malformed message must be recorded as rejected (its marker
in the record), every valid one must succeed, and nothing may be left on the list or unacked. The larger
form: ``CANCELQ_FUZZ_COUNT=50000 CANCELQ_FUZZ_SEED=7 pytest -m slow tests/worker/test_broker_fuzz.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis

from cancelq.core import keys
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE
from tests.worker.fuzz import MALFORMED, Case, Shop, generate
from tests.worker.messages import QUEUE, UNACKED

KITS = {kit.platform: kit for kit in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}
NO_LIMITS = {"CANCELQ_RATE_LIMITS": json.dumps({p: {"rate_per_s": 100_000, "burst": 100_000} for p in KITS})}
SEED = int(os.environ.get("CANCELQ_FUZZ_SEED", "20261201"))
WORKER_DIED = ("Unrecoverable error", "Connection to broker lost")


def _push(client: redis.Redis, cases: list[Case]) -> None:
    for start in range(0, len(cases), 200):
        pipe = client.pipeline(transaction=False)
        for case in cases[start:start + 200]:
            pipe.lpush(QUEUE, case.raw)
        pipe.execute()


def _settled(client: redis.Redis, rejected: int) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.llen(QUEUE)
    pipe.hlen(UNACKED)
    pipe.zcard(keys.DELAYED)
    pipe.zcard(keys.REJECTED)
    waiting, unacked, delayed, recorded = pipe.execute()
    return not waiting and not unacked and not delayed and recorded >= rejected


def _rejected_text(client: redis.Redis) -> str:
    pipe = client.pipeline(transaction=False)
    for job_id in client.zrange(keys.REJECTED, 0, -1):
        pipe.hget(keys.job(job_id.decode() if isinstance(job_id, bytes) else str(job_id)), "job")
    return "\n".join(text.decode() for text in pipe.execute() if text)


def fuzz(count: int, seed: int, redis_url: str, sandbox_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    sandbox = SandboxClient(sandbox_url)
    sandbox.reset()
    runtime = Runtime()
    shops = [Shop(p, add_kit_shop(kit, sandbox, runtime.shops, sandbox_url)) for p, kit in KITS.items()]
    cases = generate(seed, count, shops)
    valid = [case for case in cases if case.valid]
    malformed = [case for case in cases if not case.valid]
    assert {case.kind for case in cases} == {"valid", *(name for name, _, _ in MALFORMED)}, "every kind is made"
    for start in range(0, len(valid), 250):
        sandbox.add_orders([{"platform": c.platform, "shop": KITS[c.platform].shop_ref, "order_id": c.marker,
                             "state": "cancellable"} for c in valid[start:start + 250]])
    workers = [WorkerProcess(tmp_path / f"w{i}.log", redis_url, name=f"fuzz{i}", env=NO_LIMITS) for i in (1, 2)]
    try:
        pids = [worker.start().pid for worker in workers]
        _push(client, cases)
        wait_until(lambda: _settled(client, len(malformed)), timeout_s=max(90, count / 40), poll_s=0.2,
                   what=f"{len(cases)} messages to be taken ({len(malformed)} to be rejected)")
        for worker, pid in zip(workers, pids, strict=True):
            log = worker.log_path.read_text(errors="replace")
            assert worker.pid == pid and worker.running, f"{worker.hostname} exited: {log[-3000:]}"
            assert not [line for line in WORKER_DIED if line in log], log[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    states = {c.marker: (r.state if (r := runtime.ledger.find(f"{c.platform}/{c.platform}-shop/{c.marker}"))
                         else None) for c in valid}
    assert [m for m, state in states.items() if state != "succeeded"] == [], "every valid job succeeds"
    assert client.zcard(keys.REJECTED) == len(malformed), "every malformed message is recorded, once"
    text = _rejected_text(client)
    lost = [(c.kind, c.raw[:200]) for c in malformed if c.traceable and c.marker not in text]
    assert lost == [], "every malformed message's record keeps a copy of it"
    runtime.session.close()
    client.close()


def test_two_thousand_fuzzed_messages_neither_stop_a_worker_nor_go_unrecorded(redis_url: str, sandbox_url: str,
                                                                              tmp_path: Path) -> None:
    fuzz(2_000, SEED, redis_url, sandbox_url, tmp_path)


@pytest.mark.slow
def test_many_fuzzed_messages(redis_url: str, sandbox_url: str, tmp_path: Path) -> None:
    fuzz(int(os.environ.get("CANCELQ_FUZZ_COUNT", "20000")), SEED, redis_url, sandbox_url, tmp_path)
