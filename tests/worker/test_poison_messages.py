"""No message on the queue stops a worker: each broken shape is recorded as rejected, acked, and the next job runs.

One worker process serves every shape in turn (a module-scoped world); the last test stops it with every
shape taken and starts another, which must find nothing of them back on the list.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.worker.app import app
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.worker.messages import POISON, QUEUE, UNACKED, Poison, encode, envelope, job_body

FAST_LIMITS = {"CANCELQ_RATE_LIMITS": json.dumps({"shoplazza": {"rate_per_s": 1000, "burst": 1000}})}
WORKER_DIED = ("Unrecoverable error", "Connection to broker lost")


@dataclass
class World:
    redis: redis.Redis
    runtime: Runtime
    sandbox: SandboxClient
    shop: str
    worker: WorkerProcess
    log: Path
    orders: Iterator[int] = field(default_factory=itertools.count)

    def run_valid_job(self) -> JobRecord:
        """Push a valid job and wait for its outcome: proof that the worker serves the queue."""
        order_id = f"633130-{next(self.orders):08d}"
        self.sandbox.add_order("shoplazza", SHOPLAZZA.shop_ref, order_id, state="cancellable")
        job = {"platform": "shoplazza", "shop": self.shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"}
        self.redis.lpush(QUEUE, encode(envelope(job_body(job))))

        def final() -> JobRecord | None:
            record = self.runtime.ledger.find(f"shoplazza/{self.shop}/{order_id}")
            return record if record is not None and record.final else None
        record = wait_until(final, what=f"job {order_id} to finish")
        assert record is not None
        return record

    def rejected_count(self) -> int:
        return int(self.redis.zcard(keys.REJECTED))

    def settled(self) -> bool:
        return not self.redis.llen(QUEUE) and not self.redis.hlen(UNACKED)

    def assert_alive(self) -> None:
        assert self.worker.proc is not None and self.worker.proc.poll() is None, self.log.read_text()[-3000:]
        text = self.log.read_text()
        assert not [line for line in WORKER_DIED if line in text], text[-3000:]


@pytest.fixture(scope="module")
def world(redis_url: str, sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    sandbox = SandboxClient(sandbox_url)
    sandbox.reset()
    runtime = Runtime()
    shop = add_kit_shop(SHOPLAZZA, sandbox, runtime.shops, sandbox_url)
    log = tmp_path_factory.mktemp("poison") / "worker.log"
    state = World(client, runtime, sandbox, shop, WorkerProcess(log, redis_url, env=FAST_LIMITS).start(), log)
    yield state
    state.worker.stop()
    runtime.session.close()
    sandbox.reset()
    client.close()


@pytest.mark.parametrize("poison", POISON, ids=lambda p: p.name)
def test_a_broken_message_is_rejected_acked_and_the_next_job_runs(world: World, poison: Poison) -> None:
    before = world.rejected_count()
    world.redis.lpush(QUEUE, poison.raw)
    assert world.run_valid_job().state == "succeeded"
    wait_until(lambda: world.rejected_count() > before, what=f"{poison.name} to be recorded as rejected")
    wait_until(world.settled, what="the queue and the unacked set to empty")
    world.assert_alive()
    assert world.rejected_count() == before + 1, "recorded once"
    record = world.runtime.ledger.rejected(limit=1)[0]
    assert poison.reason in record.reject_reason
    assert record.events[0]["source"] == "broker"
    copy = json.dumps(record.job)
    assert poison.marker in copy, "a copy of the raw message is kept"
    assert len(copy) < 4500, "the copy is bounded"


def test_a_worker_restarted_after_every_broken_message_finds_none_of_them_back(world: World) -> None:
    before = world.rejected_count()
    world.redis.lpush(QUEUE, *[poison.raw for poison in POISON])
    wait_until(lambda: world.rejected_count() == before + len(POISON), what="every broken message to be rejected")
    wait_until(world.settled, what="the queue and the unacked set to empty")
    world.assert_alive()
    proc = world.worker.proc
    assert proc is not None
    world.worker.stop()
    assert proc.returncode == 0, "a clean shutdown, which puts its unacked messages back on the list"
    assert world.settled(), "none of the broken messages was left unacked, to be put back"
    world.worker = WorkerProcess(world.log, world.worker.redis_url, name="w2", env=FAST_LIMITS).start()
    assert world.run_valid_job().state == "succeeded"
    world.assert_alive()
    assert world.rejected_count() == before + len(POISON)


def test_remote_control_passes_the_guard(world: World) -> None:
    """The guard wraps every consume callback: the pidbox's broadcasts (a ping) still reach the worker."""
    replies = app.control.ping(destination=[world.worker.hostname], timeout=5.0) or []
    assert [name for reply in replies for name in reply] == [world.worker.hostname]
    world.assert_alive()
