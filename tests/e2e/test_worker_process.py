"""A real Celery worker process: producers, foreign clients, SIGKILLs mid-flight, restarts during waits."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection, Exchange, Producer

from cancelq.client import CancelQ, JobHandle
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

KITS = [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA]
LOGS: list[Path] = []


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime()
    yield CancelQ(runtime)
    runtime.session.close()


@pytest.fixture()
def worker_log(tmp_path: Path) -> Path:
    path = tmp_path / "worker.log"
    LOGS.append(path)
    return path


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    return {kit.platform: add_kit_shop(kit, sandbox, client.rt.shops, sandbox_url) for kit in KITS}


def _job(platform: str, shop: str, order_id: str, **extra: Any) -> dict[str, Any]:
    return {"platform": platform, "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST", **extra}


def _final(client: CancelQ, handle: JobHandle, timeout_s: float = 30) -> str:
    return handle.wait(timeout_s=timeout_s, poll_s=0.02).state


def test_submitted_jobs_on_every_platform_succeed(client: CancelQ, sandbox: SandboxClient, shops: dict[str, str],
                                                  worker_log: Path, redis_url: str) -> None:
    for kit in KITS:
        for i in range(5):
            sandbox.add_order(kit.platform, kit.shop_ref, f"E2E-{i}", state="cancellable")
    with WorkerProcess(worker_log, redis_url):
        handles = [client.submit(_job(k.platform, shops[k.platform], f"E2E-{i}")) for k in KITS for i in range(5)]
        assert all(h.created for h in handles)
        assert [_final(client, h) for h in handles] == ["succeeded"] * 20
    assert sandbox.stats()["cancels_applied"] == 20


def test_concurrent_and_repeated_submissions_cancel_once(client: CancelQ, sandbox: SandboxClient,
                                                         shops: dict[str, str], worker_log: Path,
                                                         redis_url: str) -> None:
    sandbox.add_order("lazada", LAZADA.shop_ref, "DUP-1", state="cancellable")
    job = _job("lazada", shops["lazada"], "DUP-1")
    handles: list[JobHandle] = []
    with WorkerProcess(worker_log, redis_url):
        threads = [threading.Thread(target=lambda: handles.append(client.submit(job))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({h.job_id for h in handles}) == 1
        assert sum(h.created for h in handles) == 1
        assert _final(client, handles[0]) == "succeeded"
        again = client.submit(job)
        assert not again.created and again.state == "succeeded"
    view = sandbox.order("lazada", "DUP-1")
    assert view["calls"]["InitReverseOrderCancel"] == 1 and view["cancels_applied"] == 1


def test_foreign_celery_client_and_malformed_messages(client: CancelQ, sandbox: SandboxClient,
                                                      shops: dict[str, str], worker_log: Path,
                                                      redis_url: str) -> None:
    sandbox.add_order("shopline", SHOPLINE.shop_ref, "RAW-1", state="cancellable")
    foreign = Celery(broker=redis_url)
    with WorkerProcess(worker_log, redis_url):
        foreign.send_task("cancelq.cancel", args=[_job("shopline", shops["shopline"], "RAW-1")], queue="cancelq")
        foreign.send_task("cancelq.cancel", args=[{"platform": "shopline", "order_id": 5}], queue="cancelq")
        foreign.send_task("cancelq.cancel", args=[1, 2], queue="cancelq")
        foreign.send_task("cancelq.cancle", args=[{}], queue="cancelq")
        with Connection(redis_url) as conn:
            Producer(conn).publish(b'{"broken json', routing_key="cancelq", exchange=Exchange("cancelq"),
                                   content_type="application/json", content_encoding="utf-8",
                                   headers={"task": "cancelq.cancel", "id": str(uuid.uuid4())})
        rejected = wait_until(lambda: (r := client.rejected()) and len(r) >= 4 and r, what="4 rejected records")
        wait_until(lambda: sandbox.order("shopline", "RAW-1")["cancels_applied"] == 1, what="the raw job to run")
    reasons = " | ".join(r.reject_reason for r in rejected)
    assert "shop" in reasons and "exactly one argument" in reasons
    assert "unknown task 'cancelq.cancle'" in reasons and "undecodable" in reasons
    job = client.rt.ledger.find("shopline/shopline-shop/RAW-1")
    assert job is not None and job.state == "succeeded"


def test_sigkill_between_lazada_validate_and_create(client: CancelQ, sandbox: SandboxClient,
                                                    shops: dict[str, str], worker_log: Path, redis_url: str) -> None:
    sandbox.add_order("lazada", LAZADA.shop_ref, "KILL-1", state="cancellable")
    sandbox.fault("lazada", "latency", endpoint="InitReverseOrderCancel", latency_ms=30_000)
    worker = WorkerProcess(worker_log, redis_url).start()
    try:
        handle = client.submit(_job("lazada", shops["lazada"], "KILL-1"))
        wait_until(lambda: sandbox.order("lazada", "KILL-1")["calls"].get("InitReverseOrderCancel"),
                   what="the create call to be in flight")
        record = client.job(handle.job_id)
        assert record.inflight == "create", "the write is marked in flight before it is sent"
        worker.kill()
        sandbox.clear_faults()
        worker = WorkerProcess(worker_log, redis_url, name="w2").start()
        assert _final(client, handle) == "succeeded"
        assert {"validate", "create"} <= set(client.job(handle.job_id).steps)
    finally:
        worker.stop()
    view = sandbox.order("lazada", "KILL-1")
    assert view["cancels_applied"] == 1
    assert any(e["event"] == "succeeded" for e in client.job(handle.job_id).events)


def test_sigkill_after_shopee_write_applied_but_answer_lost(client: CancelQ, sandbox: SandboxClient,
                                                            shops: dict[str, str], worker_log: Path,
                                                            redis_url: str) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "KILL-2", state="cancellable")
    sandbox.fault("shopee", "hang", endpoint="cancel_order", after_write=True, hang_s=30)
    worker = WorkerProcess(worker_log, redis_url, env={"CANCELQ_HTTP_READ_TIMEOUT_S": "60"}).start()
    try:
        handle = client.submit(_job("shopee", shops["shopee"], "KILL-2"))
        wait_until(lambda: sandbox.order("shopee", "KILL-2")["cancels_applied"] == 1, what="the write to apply")
        worker.kill()
        sandbox.clear_faults()
        worker = WorkerProcess(worker_log, redis_url, name="w2").start()
        assert _final(client, handle) == "succeeded"
    finally:
        worker.stop()
    view = sandbox.order("shopee", "KILL-2")
    assert view["calls"]["cancel_order"] == 1 and view["cancels_applied"] == 1


def test_long_wait_survives_a_worker_restart_and_runs_once(client: CancelQ, sandbox: SandboxClient,
                                                           shops: dict[str, str], worker_log: Path,
                                                           redis_url: str) -> None:
    sandbox.add_order("shoplazza", SHOPLAZZA.shop_ref, "WAIT-1", state="cancellable")
    sandbox.fault("shoplazza", "error", endpoint="cancel_order", http_status=429, retry_after_s=2)
    worker = WorkerProcess(worker_log, redis_url).start()
    try:
        handle = client.submit(_job("shoplazza", shops["shoplazza"], "WAIT-1"))
        wait_until(lambda: client.job(handle.job_id).state == "waiting", what="the job to wait")
        worker.kill()
        worker = WorkerProcess(worker_log, redis_url, name="w2").start()
        assert _final(client, handle) == "succeeded"
    finally:
        worker.stop()
    record = client.job(handle.job_id)
    assert record.attempts == 0
    view = sandbox.order("shoplazza", "WAIT-1")
    assert view["calls"]["cancel_order"] == 2 and view["cancels_applied"] == 1


def test_no_secret_in_worker_logs_or_dead_letters(client: CancelQ, sandbox: SandboxClient, shops: dict[str, str],
                                                  worker_log: Path, redis_url: str) -> None:
    for kit in KITS:
        sandbox.add_order(kit.platform, kit.shop_ref, "SEC-1", state="shipped")
        sandbox.add_order(kit.platform, kit.shop_ref, "SEC-2", state="cancellable")
    sandbox.expire_token("shopline", SHOPLINE.shop_ref)
    with WorkerProcess(worker_log, redis_url, env={"CANCELQ_LOG_LEVEL": "DEBUG"}):  # the step lines too
        handles = [client.submit(_job(k.platform, shops[k.platform], f"SEC-{i}")) for k in KITS for i in (1, 2)]
        for h in handles:
            wait_until(lambda h=h: client.job(h.job_id).state in ("dead", "succeeded", "waiting"), what="outcomes")
    assert client.dead_letters(), "the shipped orders should be dead letters"
    stored = json.dumps(client.dead_letters(limit=1000)) + json.dumps([client.job(h.job_id).to_dict() for h in handles])
    logs = "".join(p.read_text() for p in LOGS if p.exists())
    assert '"event": "step"' in logs or '"event":"step"' in logs, "the worker logged no step at DEBUG"
    for kit in KITS:
        for secret in kit.secrets:
            assert secret not in logs, f"{kit.platform} secret in the worker log"
            assert secret not in stored, f"{kit.platform} secret in the ledger or dead letters"
