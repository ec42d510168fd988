"""The upgrade to the hash-tagged key names: an older cancelq's ``cq:*`` keys are renamed to ``{cq}:*`` once, at a
worker's start, each atomically (value, TTL and a stream's consumer groups kept), never over a key that exists
under the new name; a job the older version had queued is then run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import redis

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.jobs.contract import parse_job
from cancelq.jobs.ledger import now_ms
from cancelq.sandbox.control import SandboxClient
from cancelq.worker.upgrade import move_legacy_keys
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE


def _legacy(name: str) -> str:
    return f"{keys.LEGACY_PREFIX}:{name[len(keys.PREFIX) + 1:]}"


def test_old_keys_move_once_with_their_ttl_and_groups_and_never_over_a_new_key(redis_client: redis.Redis) -> None:
    r = redis_client
    r.hset("cq:job:j1", mapping={"job_id": "j1", "state": "succeeded"})
    r.expire("cq:job:j1", 1000)
    r.xadd("cq:events", {"type": "cancel.succeeded", "v": "1", "data": "{}"})
    r.xgroup_create("cq:events", "hooks", id="0")
    r.zadd("cq:dlqx:kind:permanent", {"j2": 1})
    r.sadd("cq:dlqx:dims", "cq:dlqx:kind:permanent")
    r.sadd("cq:shops", "shopee/old")
    r.sadd(keys.SHOPS, "shopee/new")  # written by today's cancelq already: the old set is kept, not merged
    r.set("other:app", "1")

    first = move_legacy_keys(r, batch=2)

    assert (first.moved, first.kept) == (4, ["cq:shops"])
    assert r.hget(keys.job("j1"), "state") == "succeeded" and 0 < r.ttl(keys.job("j1")) <= 1000
    assert [g["name"] for g in r.xinfo_groups(keys.EVENTS)] == ["hooks"]
    assert r.smembers(keys.DLQ_DIMS) == {keys.dlq_index("kind", "permanent")}
    assert r.smembers(keys.SHOPS) == {"shopee/new"} and r.smembers("cq:shops") == {"shopee/old"}
    assert r.get("other:app") == "1" and not r.exists("cq:job:j1", "cq:events")
    again = move_legacy_keys(r)
    assert (again.moved, again.kept) == (0, ["cq:shops"])


def test_a_job_an_older_version_queued_is_run_by_a_worker_of_this_one(
        client: CancelQ, redis_client: redis.Redis, sandbox: SandboxClient, sandbox_url: str, redis_url: str,
        tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    order = f"UPG-{uuid.uuid4().hex[:8]}"
    sandbox.add_order("shopee", SHOPEE.shop_ref, order, state="cancellable")
    job_id = client.rt.ledger.intake(parse_job({"platform": "shopee", "shop": shop, "order_id": order,
                                                "reason": "OUT_OF_STOCK"})).job_id
    redis_client.zadd(keys.DELAYED, {job_id: now_ms()})  # its message was lost: the pump's timer sends it
    for name in list(redis_client.scan_iter(match=f"{keys.glob_literal(keys.PREFIX)}:*")):
        redis_client.rename(name, _legacy(str(name)))  # the store as the older version left it

    with WorkerProcess(tmp_path / "worker.log", redis_url, name="upgraded"):
        record = wait_until(lambda: (r := client.rt.ledger.get(job_id)) is not None and r.final and r,
                            timeout_s=20, what="the old version's job to run after the upgrade")

    assert record and record.state == "succeeded"
    assert not list(redis_client.scan_iter(match="cq:*"))
    moved = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
             if line.startswith("{") and '"legacy_keys_moved"' in line]
    assert moved and moved[0]["keys"] >= 4
