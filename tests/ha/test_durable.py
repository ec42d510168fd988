"""The WAIT durability knob (``durable_replicas``) against a real primary and replica.

On, the in-flight mark and the final write are each followed by a WAIT on their connection: once the job's run
returns, the replica already holds its outcome. Asked for more replicas than exist, WAIT answers short at its
timeout: logged and counted, and the job still finishes. Off, no WAIT is sent at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.settings import Settings
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

from .sentinels import ReplicatedPair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedPair]:
    group = ReplicatedPair(tmp_path_factory.mktemp("pair")).start()
    yield group
    group.stop()


def _runtime(pair: ReplicatedPair, **settings: int) -> Runtime:
    return Runtime(Settings(**settings), redis_url=pair.url)  # type: ignore[arg-type]


def _run_one(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> str:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    order = f"DUR-{uuid.uuid4().hex[:8]}"
    sandbox.add_order("shopee", SHOPEE.shop_ref, order, state="cancellable")
    job_id = CancelQ(rt).submit({"platform": "shopee", "shop": shop, "order_id": order, "reason": "OUT_OF_STOCK"}).job_id
    JobRun(rt, job_id).run()
    return job_id


def _waits(pair: ReplicatedPair) -> int:
    with redis.Redis(port=pair.primary_port, decode_responses=True) as r:
        return int(r.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


def _short(write: str) -> float:
    return REGISTRY.get_sample_value("cancelq_durable_wait_short_total", {"write": write}) or 0.0


def test_on_the_replica_has_the_outcome_when_the_run_returns(pair: ReplicatedPair, sandbox: SandboxClient,
                                                              sandbox_url: str) -> None:
    rt = _runtime(pair, durable_replicas=1, durable_timeout_ms=2000)
    before = _waits(pair)
    with capture_logs() as logs:
        job_id = _run_one(rt, sandbox, sandbox_url)
    with redis.Redis(port=pair.replica_port, decode_responses=True) as replica:
        assert replica.hget(keys.job(job_id), "state") == "succeeded"
    assert _waits(pair) - before >= 2, "a WAIT after the in-flight mark and one after the final write"
    assert not [e for e in logs if e["event"].startswith("durable_wait")]


def test_fewer_replicas_than_asked_is_logged_and_counted_and_the_job_still_finishes(
        pair: ReplicatedPair, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = _runtime(pair, durable_replicas=2, durable_timeout_ms=50)
    short_before = (_short("inflight"), _short("final"))
    with capture_logs() as logs:
        job_id = _run_one(rt, sandbox, sandbox_url)
    assert rt.ledger.get(job_id).state == "succeeded"  # type: ignore[union-attr]
    short = [e for e in logs if e["event"] == "durable_wait_short"]
    assert {e["write"] for e in short} == {"inflight", "final"}
    assert all(e["replicas"] == 1 and e["replicas_wanted"] == 2 and e["job_id"] == job_id for e in short)
    assert _short("inflight") > short_before[0] and _short("final") > short_before[1]


def test_off_by_default_sends_no_wait(pair: ReplicatedPair, sandbox: SandboxClient, sandbox_url: str) -> None:
    rt = _runtime(pair)
    before = _waits(pair)
    job_id = _run_one(rt, sandbox, sandbox_url)
    assert rt.ledger.get(job_id).state == "succeeded"  # type: ignore[union-attr]
    assert _waits(pair) == before


def test_a_cluster_ledger_refuses_the_knob_with_one_clear_message() -> None:
    with pytest.raises(ValueError, match="durable_replicas is not available with a Redis Cluster ledger"):
        Settings(redis_url="redis+cluster://127.0.0.1:7000", broker_url="amqp://guest:guest@127.0.0.1:5672//",
                 durable_replicas=1)
