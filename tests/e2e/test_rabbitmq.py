"""Scaling past one host: RabbitMQ carries the messages while Redis keeps the ledger, limiter and dead letters.

Runs against the RabbitMQ on this machine (amqp://guest:guest@127.0.0.1:5672//), each test on a queue of its
own that it deletes afterwards. When no RabbitMQ answers, the tests are skipped and say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from cancelq.core.embedded import ValkeyProcess
from cancelq.core.settings import Settings
from cancelq.jobs.contract import TASK_NAME, default_idempotency_key
from cancelq.jobs.intake import admit, summary
from cancelq.ops.health import Probe, check_health
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.worker.app import make_app
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE

CANCELQ = str(Path(sys.executable).parent / "cancelq")


@pytest.fixture()
def producer(amqp_url: str, amqp_queue: str) -> Iterator[Celery]:
    """What a producer on another host runs: the Celery app on the RabbitMQ broker."""
    app = make_app(Settings(broker_url=amqp_url, queue=amqp_queue))
    yield app
    app.close()


@pytest.fixture()
def runtime(redis_client: redis.Redis) -> Iterator[Runtime]:
    rt = Runtime()
    yield rt
    rt.session.close()


def test_a_worker_on_rabbitmq_completes_jobs_recorded_in_redis(
        amqp_url: str, amqp_queue: str, producer: Celery, runtime: Runtime, redis_client: redis.Redis,
        sandbox: SandboxClient, sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shopee = add_kit_shop(SHOPEE, sandbox, runtime.shops, sandbox_url)
    lazada = add_kit_shop(LAZADA, sandbox, runtime.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "RMQ-1", state="cancellable")
    sandbox.add_order("lazada", LAZADA.shop_ref, "RMQ-2", state="cancellable")
    admitted = admit(runtime, {"platform": "shopee", "shop": shopee, "order_id": "RMQ-1",
                               "reason": "CUSTOMER_REQUEST"})
    assert admitted.job is not None
    foreign = {"platform": "lazada", "shop": lazada, "order_id": "RMQ-2", "reason": "CUSTOMER_REQUEST"}
    env = {"CANCELQ_BROKER_URL": amqp_url, "CANCELQ_QUEUE": amqp_queue, "CANCELQ_METRICS_PORT": "0"}

    with WorkerProcess(tmp_path / "worker.log", redis_url, name="rabbit", env=env):
        producer.send_task(TASK_NAME, args=[{"job_id": admitted.job_id}], queue=amqp_queue,
                           argsrepr=summary(admitted.job))
        producer.send_task(TASK_NAME, args=[foreign], queue=amqp_queue)  # a foreign client: the task does intake
        first = wait_until(lambda: _final(runtime, admitted.job_id), timeout_s=30, what="the RabbitMQ job")
        record = wait_until(lambda: runtime.ledger.find(f"lazada/{lazada}/RMQ-2"), timeout_s=30,
                            what="the foreign client's job in the ledger")
        second = wait_until(lambda: _final(runtime, record.job_id), timeout_s=30, what="the foreign job")

    assert (first, second) == ("succeeded", "succeeded")
    assert sandbox.stats()["cancels_applied"] == 2
    assert not redis_client.exists(amqp_queue), "no message went through Redis"


def _final(runtime: Runtime, job_id: str) -> str | None:
    record = runtime.ledger.get(job_id)
    return record.state if record is not None and record.final else None


def test_metrics_and_health_read_the_rabbitmq_broker(amqp_url: str, amqp_queue: str, producer: Celery,
                                                     redis_client: redis.Redis) -> None:
    for i in range(2):
        producer.send_task(TASK_NAME, args=[{"job_id": f"waiting-{i}"}], queue=amqp_queue)
    env = {**os.environ, "CANCELQ_BROKER_URL": amqp_url, "CANCELQ_QUEUE": amqp_queue}

    scrape = subprocess.run([CANCELQ, "metrics"], capture_output=True, text=True, timeout=60, env=env)

    assert scrape.returncode == 0, scrape.stderr
    gauges = {f.name: f.samples[0].value for f in text_string_to_metric_families(scrape.stdout) if f.samples}
    assert (gauges["cancelq_broker_up"], gauges["cancelq_queue_depth"], gauges["cancelq_queue_consumers"]) == (1, 2, 0)
    healthy = check_health(Settings(broker_url=amqp_url), Probe(min_workers=0))
    refused = check_health(Settings(broker_url="amqp://guest:guest-pw@127.0.0.1:1//"),
                           Probe(min_workers=0, timeout_s=1))
    assert healthy.healthy, healthy.to_dict()
    assert [c.name for c in refused.failures] == ["broker"]
    assert "amqp://guest:**@127.0.0.1:1//" in refused.failures[0].detail
    assert "guest-pw" not in refused.failures[0].detail


def test_a_wire_job_taken_in_while_redis_is_away_goes_back_to_the_queue_and_is_recorded_once_it_is_back(
        amqp_url: str, amqp_queue: str, producer: Celery, sandbox: SandboxClient, sandbox_url: str,
        tmp_path: Path) -> None:
    """A job sent straight to the queue (no ledger record yet) reaches a worker while Redis restarts: the worker
    must not acknowledge a message it could not record. It hands it back, and records and runs it later."""
    with ValkeyProcess(tmp_path / "ledger", persist=True) as ledger:
        rt = Runtime(redis_url=ledger.url)
        shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
        sandbox.add_order("shopee", SHOPEE.shop_ref, "AWAY-1", state="cancellable")
        env = {"CANCELQ_BROKER_URL": amqp_url, "CANCELQ_QUEUE": amqp_queue}
        with WorkerProcess(tmp_path / "worker.log", ledger.url, concurrency=2, env=env) as worker:
            ledger.stop()
            producer.send_task(TASK_NAME, args=[{"platform": "shopee", "shop": shop, "order_id": "AWAY-1",
                                                 "reason": "CUSTOMER_REQUEST"}], queue=amqp_queue)
            wait_until(lambda: "message_requeued" in worker.log_path.read_text(), timeout_s=30,
                       what=f"the message handed back ({worker.last_words()})")
            ledger.start()
            key = default_idempotency_key("shopee", shop, "AWAY-1", [])
            wait_until(lambda: (r := rt.ledger.find(key)) is not None and r.final, timeout_s=30,
                       what=f"the job recorded and run ({worker.last_words()})")
        record = rt.ledger.find(key)
        assert record is not None and record.state == "succeeded"
        assert sandbox.order("shopee", "AWAY-1")["cancels_applied"] == 1
        rt.session.close()
