"""Redis Sentinel for real: a primary, a replica and three Sentinels; the primary is killed mid-run and the
replica promoted while a worker cancels a few hundred orders through ``redis+sentinel://``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.client import CancelQ
from cancelq.core import connections, keys
from cancelq.jobs.states import FINAL_STATES
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient, is_cancelled
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE

from .sentinels import SentinelGroup

ORDERS = 240
PACE = {"rate_per_s": 150, "burst": 10}
"""The shop's limit: about 75 jobs/s (two calls each), so the run lasts a few seconds and the primary dies
mid-run (Shopee's default limit would make it last a minute)."""


@pytest.fixture()
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    g = SentinelGroup(tmp_path).start()
    yield g
    g.stop()


def _states(rt: Runtime, job_ids: list[str]) -> dict[str, str] | None:
    """Each job's state, or None while the service has no primary to answer."""
    try:
        pipe = rt.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "state")
        return dict(zip(job_ids, pipe.execute(), strict=True))
    except redis.RedisError:
        return None


def _finals(rt: Runtime, job_ids: list[str]) -> int:
    states = _states(rt, job_ids) or {}
    return sum(1 for s in states.values() if s in FINAL_STATES)


def test_a_primary_killed_mid_run_loses_no_job_and_cancels_nothing_twice(
        group: SentinelGroup, sandbox: SandboxClient, sandbox_url: str, tmp_path: Path) -> None:
    rt = Runtime(redis_url=group.url)
    cq = CancelQ(rt)
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    rt.shops.add("shopee", shop, dict(SHOPEE.credentials), base_url=sandbox_url, limits=PACE)
    sandbox.add_orders([{"platform": "shopee", "shop": SHOPEE.shop_ref, "order_id": f"HA-{i}", "state": "cancellable"}
                        for i in range(ORDERS)])
    handles = [cq.submit({"platform": "shopee", "shop": shop, "order_id": f"HA-{i}", "reason": "OUT_OF_STOCK"})
               for i in range(ORDERS)]
    job_ids = [h.job_id for h in handles]
    assert rt.redis.wait(1, 5000) == 1  # the jobs and their messages reached the replica before the fault
    first = group.master()

    env = {"CANCELQ_LEASE_S": "4", "CANCELQ_REDIS_URL": group.url}
    with WorkerProcess(tmp_path / "worker.log", group.url, concurrency=8, env=env):
        wait_until(lambda: _finals(rt, job_ids) >= ORDERS // 3, timeout_s=60, what="a third of the jobs final")
        at_kill = _finals(rt, job_ids)
        group.primary.kill()
        wait_until(lambda: group.master() not in (None, first), timeout_s=30, what="the replica promoted")
        wait_until(lambda: _finals(rt, job_ids) == ORDERS, timeout_s=120, poll_s=0.2, what="every job final")

    states = _states(rt, job_ids)
    assert states is not None and set(states.values()) <= {"succeeded", "already_cancelled"}, states
    stats = sandbox.stats()
    assert stats["cancelled_twice"] == [] and stats["cancels_applied"] == ORDERS
    cancelled = {o["order_id"] for o in sandbox.orders("shopee") if is_cancelled(o)}
    assert cancelled == {f"HA-{i}" for i in range(ORDERS)}  # ledger = platform: every job final, every order cancelled
    repaired = sum(1 for s in states.values() if s == "already_cancelled")
    assert at_kill < ORDERS, "the primary must die mid-run"
    print(f"\nsentinel failover: {ORDERS} jobs, {at_kill} final when the primary was killed, primary {first} -> "
          f"{group.master()}, "
          f"{repaired} outcomes repaired by the reconcile read (their first write was lost with the primary)")


def test_a_sentinel_url_is_parsed_into_the_clients_and_the_broker_and_a_bad_one_says_why() -> None:
    url = "redis+sentinel://:s3cr3t@10.0.0.1:26379,10.0.0.2/cq/2?sentinel_password=sp4ss"
    target = connections.parse_sentinel(url)
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379)) and target.service == "cq"
    assert (target.db, target.password, target.sentinel_password, target.ssl) == (2, "s3cr3t", "sp4ss", False)
    conf = connections.celery_broker(url, {"visibility_timeout": 120})
    assert conf["broker_url"] == "sentinel://:s3cr3t@10.0.0.1:26379/2;sentinel://:s3cr3t@10.0.0.2:26379/2"
    assert conf["broker_transport_options"] == {"visibility_timeout": 120, "master_name": "cq",
                                                "sentinel_kwargs": {"password": "sp4ss"}}
    assert connections.celery_broker("redis://h:6379/0") == {"broker_url": "redis://h:6379/0",
                                                              "broker_transport_options": {}}
    assert "broker_use_ssl" in connections.celery_broker("rediss+sentinel://h1/cq")
    for bad, why in (("redis+sentinel://:pw@h1:26379", "service"), ("redis+sentinel://:pw@h1:x/cq", "port"),
                     ("redis+sentinel://:pw@h1/cq/zero", "database"), ("redis+sentinel://:pw@/cq", "host")):
        with pytest.raises(connections.RedisUrlError) as caught:
            connections.parse_sentinel(bad)
        assert why in str(caught.value) and "pw" not in str(caught.value)
