"""The Celery app: at-least-once delivery, task events for Flower, no result backend.

Settings that must agree: a job's lease (``lease_s``) is longer than a task may
run (``task_time_limit_s``) and shorter than the Redis broker's visibility
timeout, so a crashed job is taken over through its lease long before the
broker would redeliver it, and the redelivered message then finds the job done.
"""

from __future__ import annotations

import json
from typing import Any

from celery import Celery, signals

from cancelq.core import keys
from cancelq.core.logging import configure, get_logger
from cancelq.core.settings import Settings, get_settings
from cancelq.jobs.contract import TASK_NAME
from cancelq.jobs.delayed import Pump
from cancelq.jobs.ledger import now_ms
from cancelq.ops import metrics  # noqa: F401  (metrics: connects the worker_ready handler serving /metrics)
from cancelq.runtime import get_runtime, reset_runtime, resolve_redis_url
from cancelq.worker.broker import reuse_clients
from cancelq.worker.upgrade import adopt_old_keys


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    reuse_clients()
    redis_url = resolve_redis_url(settings)
    app = Celery("cancelq", broker=settings.broker_url or redis_url, include=["cancelq.tasks.cancel"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue,
        task_routes={TASK_NAME: {"queue": settings.queue}},
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(1.0, settings.task_time_limit_s - 5),
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_soft_shutdown_timeout=10.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_consumer="cancelq.worker.consumer:Consumer",
    )
    return app


app = make_app()
_pump: list[Pump] = []


def publish(job_id: str, summary: str | None = None, job: dict[str, Any] | None = None) -> None:
    """Send a recorded job to the workers; with ``job`` (as recorded), the worker need not read it first."""
    app.send_task(TASK_NAME, args=[{"job_id": job_id, "job": job} if job is not None else {"job_id": job_id}],
                  queue=get_settings().queue,
                  argsrepr=f"job={job_id} {summary}" if summary else f"job={job_id}")


def publish_due(job_id: str) -> None:
    """The pump's publish: the job's summary read back from the ledger, so Flower shows it on every run."""
    raw = get_runtime().redis.hget(keys.job(job_id), "job")
    job = json.loads(raw) if raw else {}
    publish(job_id, f"{job.get('platform')}/{job.get('shop')} order={job.get('order_id')} reason={job.get('reason')}"
            if job else None)


@signals.worker_init.connect
def _on_worker_init(**_: Any) -> None:
    settings = get_settings()
    configure(settings.log_format, settings.log_level)


@signals.worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    reset_runtime()


@signals.worker_ready.connect
def _start_pump(sender: Any = None, **_: Any) -> None:
    runtime = get_runtime()
    log = get_logger("cancelq.pump")
    hostname = str(getattr(sender, "hostname", None) or "cancelq")
    adopted = adopt_old_keys(runtime.redis)
    if adopted:
        log.info("old_keys_adopted", entries=adopted)
    started = now_ms()

    def heartbeat() -> None:
        runtime.redis.set(keys.worker(hostname), started, ex=60)

    pump = Pump(runtime.delayed, publish_due, interval_s=runtime.settings.pump_interval_s, heartbeat=heartbeat,
                on_error=lambda exc: log.warning("pump_error", error=f"{type(exc).__name__}: {exc}"))
    pump.start()
    _pump.append(pump)
    log.info("worker_ready", hostname=hostname)


@signals.worker_shutdown.connect
def _stop_pump(sender: Any = None, **_: Any) -> None:
    for pump in _pump:
        pump.stop()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        get_runtime().redis.delete(keys.worker(str(hostname)))
