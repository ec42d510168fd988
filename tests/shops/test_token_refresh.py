"""Shops' tokens in the worker: refresh once under a lock, ahead of expiry, and park on a dead grant."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.settings import get_settings
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.state import default_refresh_token
from cancelq.shops.registry import Sealer, ShopRegistry
from cancelq.tasks.run import JobRun
from tests.helpers import WorkerProcess, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE


def _shop(kit, sandbox: SandboxClient, rt: Runtime, sandbox_url: str, **extra: object) -> str:  # type: ignore[no-untyped-def]
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    creds = {**kit.credentials, "refresh_token": default_refresh_token(kit.platform, kit.shop_ref)}
    rt.shops.add(kit.platform, f"{kit.platform}-shop", creds, base_url=sandbox_url, **extra)  # type: ignore[arg-type]
    return f"{kit.platform}-shop"


def _submit(rt: Runtime, platform: str, shop: str, order_id: str) -> str:
    admitted = admit(rt, {"platform": platform, "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()


def test_two_workers_racing_on_an_expired_shopee_token_spend_the_refresh_token_once(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = _shop(SHOPEE, sandbox, rt, sandbox_url)
    workers = [Runtime(settings=rt.settings) for _ in range(2)]
    jobs = []
    for i in range(2):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"RACE-{i}", state="cancellable")
        jobs.append(_submit(rt, "shopee", shop, f"RACE-{i}"))
    sandbox.expire_token("shopee", SHOPEE.shop_ref)
    barrier = threading.Barrier(2)

    def run(worker: Runtime, job_id: str) -> None:
        barrier.wait()
        JobRun(worker, job_id).run()

    threads = [threading.Thread(target=run, args=(w, j)) for w, j in zip(workers, jobs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job_id in jobs:
        record = rt.ledger.get(job_id)
        while record is not None and not record.final:
            wait_until(lambda j=job_id: (rt.ledger.get(j).due_at or 0) <= now_ms(), what="due")  # type: ignore[union-attr]
            JobRun(rt, job_id).run()
            record = rt.ledger.get(job_id)
        assert record is not None and record.state == "succeeded"
    assert sandbox.shop("shopee", SHOPEE.shop_ref)["refreshes"] == 1
    stored = rt.shops.get("shopee", shop, fresh=True)
    assert stored is not None and stored.credentials["refresh_token"] != default_refresh_token("shopee", "14701711")
    assert stored.token_expires_at is not None and stored.token_expires_at > time.time() + 3600


def test_token_is_refreshed_ahead_of_expiry(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = _shop(LAZADA, sandbox, rt, sandbox_url, token_expires_at=time.time() + 60)
    sandbox.add_order("lazada", LAZADA.shop_ref, "AHEAD-1", state="cancellable")
    job_id = _submit(rt, "lazada", shop, "AHEAD-1")
    JobRun(rt, job_id).run()
    assert rt.ledger.get(job_id).state == "succeeded"  # type: ignore[union-attr]
    assert sandbox.shop("lazada", LAZADA.shop_ref)["refreshes"] == 1


def test_a_dead_refresh_token_parks_the_shop_and_new_credentials_release_it(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = _shop(SHOPEE, sandbox, rt, sandbox_url)
    for i in range(2):
        sandbox.add_order("shopee", SHOPEE.shop_ref, f"PARK-{i}", state="cancellable")
    sandbox.expire_token("shopee", SHOPEE.shop_ref, refresh=True)
    first = _submit(rt, "shopee", shop, "PARK-0")
    JobRun(rt, first).run()
    parked = rt.shops.get("shopee", shop, fresh=True)
    assert parked is not None and "refresh_token_expired" in parked.needs_reauth
    calls = sandbox.stats()["calls"]["shopee"]
    second = _submit(rt, "shopee", shop, "PARK-1")
    JobRun(rt, second).run()
    assert sandbox.stats()["calls"]["shopee"] == calls, "a parked shop's jobs make no call"
    for job_id in (first, second):
        record = rt.ledger.get(job_id)
        assert record is not None and record.state == "waiting" and record.attempts == 0
    assert rt.dead_letters.size() == 0
    sandbox.add_shop("shopee", **{**SHOPEE.shop_spec, "access_token": "fresh-grant-token-0001"})
    rt.shops.set_tokens(parked, {**parked.credentials, "access_token": "fresh-grant-token-0001"}, None)
    for job_id in (first, second):
        wait_until(lambda j=job_id: (rt.ledger.get(j).due_at or 0) <= now_ms(), timeout_s=5, what="due")  # type: ignore[union-attr]
        JobRun(rt, job_id).run()
        assert rt.ledger.get(job_id).state == "succeeded"  # type: ignore[union-attr]


def test_a_token_expiring_mid_campaign_causes_one_refresh_and_no_dead_letter(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shop = _shop(LAZADA, sandbox, rt, sandbox_url, limits={"rate_per_s": 1000, "burst": 100, "per_api": True})
    sandbox.add_orders([{"platform": "lazada", "shop": LAZADA.shop_ref, "order_id": f"MID-{i}",
                         "state": "cancellable"} for i in range(200)])
    client = CancelQ(rt)
    with WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=16):
        handles = [client.submit({"platform": "lazada", "shop": shop, "order_id": f"MID-{i}",
                                  "reason": "OUT_OF_STOCK"}) for i in range(200)]
        wait_until(lambda: sandbox.stats()["cancels_applied"] >= 40, what="the campaign to get going")
        sandbox.expire_token("lazada", LAZADA.shop_ref)
        states = [h.wait(timeout_s=60, poll_s=0.05).state for h in handles]
    assert states == ["succeeded"] * 200
    assert sandbox.shop("lazada", LAZADA.shop_ref)["refreshes"] == 1
    assert rt.dead_letters.size() == 0
    assert sandbox.stats()["cancelled_twice"] == []


def test_credentials_are_encrypted_at_rest_when_a_key_is_set(redis_client: redis.Redis) -> None:
    key = Fernet.generate_key().decode()
    registry = ShopRegistry(redis_client, sealer=Sealer(key))
    registry.add("shopee", "sealed", dict(SHOPEE.credentials))
    raw = redis_client.hget(keys.shop("shopee", "sealed"), "credentials")
    assert raw is not None and raw.startswith("fernet:")
    assert all(secret not in raw for secret in SHOPEE.secrets)
    shop = registry.get("shopee", "sealed", fresh=True)
    assert shop is not None and shop.credentials == dict(SHOPEE.credentials)
    with pytest.raises(ValueError, match="encrypted"):
        ShopRegistry(redis_client).get("shopee", "sealed", fresh=True)
    assert get_settings().encryption_key is None
