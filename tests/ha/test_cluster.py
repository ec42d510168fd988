"""The ledger on a Redis Cluster (three masters from the Valkey binary cancelq ships), the broker on RabbitMQ.

A Cluster cannot be the broker (kombu has no Redis Cluster transport), so these tests need the RabbitMQ at
127.0.0.1:5672 (``CANCELQ_TEST_AMQP_URL``); each uses a queue of its own and deletes it. redis-py's cluster client
refuses a script or transaction whose keys hash to different slots, so a campaign that runs to its end here
proves that every multi-key write cancelq makes stays in one slot; the test then checks that every key it
wrote lives on one node, in the slot of the ``{cq}`` hash tag.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.settings import Settings
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient, is_cancelled
from tests.campaign_helpers import add_shops, row, seed, write_csv
from tests.helpers import WorkerProcess, wait_until

from .cluster import ClusterGroup

PLATFORMS = ("shopee", "lazada", "shopline", "shoplazza")
ORDERS = 240
"""A small campaign: 60 orders per platform, every tenth already cancelled and every tenth (+5) shipped."""


@pytest.fixture()
def crt(empty_cluster: ClusterGroup, amqp_url: str, amqp_queue: str) -> Iterator[Runtime]:
    """A runtime whose ledger is the Cluster (emptied first) and whose broker is RabbitMQ."""
    rt = Runtime(Settings(broker_url=amqp_url, queue=amqp_queue), redis_url=empty_cluster.url)
    yield rt
    rt.session.close()


def _orders() -> list[tuple[str, str, str]]:
    """(platform, order id, state) for the campaign."""
    out = []
    for i in range(ORDERS):
        state = "cancelled" if i % 10 == 0 else "shipped" if i % 10 == 5 else "cancellable"
        out.append((PLATFORMS[i % 4], f"CL-{uuid.uuid4().hex[:6]}-{i}", state))
    return out


def test_a_campaign_on_a_cluster_ledger_with_a_rabbitmq_broker_ends_with_ledger_equal_to_platform(
        crt: Runtime, cluster: ClusterGroup, amqp_url: str, amqp_queue: str, sandbox: SandboxClient, sandbox_url: str,
        tmp_path: Path) -> None:
    started = time.monotonic()
    shops = add_shops(crt, sandbox, sandbox_url)
    orders = _orders()
    seed(sandbox, orders)
    rows = [row(p, shops, o, "OUT_OF_STOCK") for p, o, _ in orders]
    path = write_csv(tmp_path / "campaign.csv", [*rows, rows[1]])  # a repeated row: counted once, sent once
    cq = CancelQ(crt)
    env = {"CANCELQ_BROKER_URL": amqp_url, "CANCELQ_QUEUE": amqp_queue}
    with WorkerProcess(tmp_path / "worker.log", cluster.url, concurrency=16, name="cluster", env=env):
        result = cq.run_campaign(path, batch_size=100)
        again = cq.run_campaign(path, campaign_id=result.campaign_id, batch_size=100)  # a resume: all duplicates
        campaign = wait_until(lambda: _finished(cq, result.campaign_id), timeout_s=60, poll_s=0.1,
                              what="the campaign to finish on the cluster ledger")
    assert again.campaign_id == result.campaign_id
    records = {r.job["order_id"]: r for r in (cq.job(j) for j in _job_ids(crt, result.campaign_id))}
    states = Counter(r.state for r in records.values())
    by_state = {o: s for _, o, s in orders}
    assert len(records) == ORDERS and campaign.counts.get("duplicates", 0) >= 1
    assert states == Counter({"succeeded": ORDERS * 8 // 10, "already_cancelled": ORDERS // 10,
                              "dead": ORDERS // 10}), states
    cancelled_here = {o["order_id"] for p in PLATFORMS for o in sandbox.orders(p)
                      if o["order_id"] in by_state and is_cancelled(o)}
    assert cancelled_here == {o for o, s in by_state.items() if s != "shipped"}, "the ledger is the platform"
    assert {o for o, r in records.items() if r.state == "dead"} == {o for o, s in by_state.items() if s == "shipped"}
    twice = [name for name in sandbox.stats()["cancelled_twice"] if name.split("/", 1)[1] in by_state]
    assert twice == []
    nodes = cluster.one_node()
    print(f"\ncluster ledger, RabbitMQ broker: {ORDERS} jobs on {len(cluster.ports)} masters, every key on node "
          f"{nodes} (slot {crt.redis.keyslot(keys.EVENTS)}), {dict(states)}, cancelled twice: 0, "
          f"{time.monotonic() - started:.1f} s")


def _finished(cq: CancelQ, campaign_id: str) -> object:
    campaign = cq.campaign(campaign_id)
    return campaign if campaign.finished_at else None


def _job_ids(rt: Runtime, campaign_id: str) -> list[str]:
    return sorted(str(j) for j in rt.redis.hkeys(keys.campaign_states(campaign_id)))
