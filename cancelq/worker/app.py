"""The Celery app: at-least-once delivery, task events for Flower, no result backend.

Settings that must agree: a job's lease (``lease_s``) is longer than a task may
run (``task_time_limit_s``) and shorter than the Redis broker's visibility
timeout, so a crashed job is taken over through its lease long before the
broker would redeliver it, and the redelivered message then finds the job done.

Importing this module connects nothing: the app reads its settings and resolves its broker (starting the
embedded Valkey if no Redis URL is set) when it is first configured, as a worker starts or a task is sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from celery import Celery, signals
from celery.exceptions import Reject
from celery.worker import state as worker_state

from cancelq.core import connections, keys
from cancelq.core.logging import configure, get_logger
from cancelq.core.settings import Settings, get_settings
from cancelq.delivery import service as delivery
from cancelq.gate import clockwatch
from cancelq.jobs.contract import TASK_NAME
from cancelq.jobs.delayed import Pump
from cancelq.jobs.ledger import now_ms
from cancelq.ops.metrics import serve_worker_metrics
from cancelq.pushes import processor as pushes
from cancelq.runtime import get_runtime, reset_runtime, resolve_redis_url
from cancelq.tasks.cancel import NotRecorded, deliver
from cancelq.tasks.endings import DeadLettered
from cancelq.worker.broker import reuse_clients
from cancelq.worker.upgrade import upgrade_keys

REQUEUE_PAUSE_S = 1.0
"""How long a worker holds a message it could not record before it hands it back: no hot loop while Redis is
away."""


def configuration(settings: Settings | None = None) -> dict[str, Any]:
    """The app's settings, from cancelq's (read when the app is first configured, not at import)."""
    settings = settings or get_settings()
    broker = connections.celery_broker(settings.broker_url or resolve_redis_url(settings),
                                       {"visibility_timeout": settings.visibility_timeout_s})
    return dict(
        **broker,
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


def make_app(settings: Settings | None = None) -> Celery:
    """The worker's Celery app with the cancel task, configured from ``settings`` (default: the process's)
    when it is first used."""
    reuse_clients()
    app = Celery("cancelq", set_as_current=False)
    app.add_defaults(lambda: configuration(settings))

    @app.task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, typing=False, throws=(DeadLettered,))
    def cancel(self: Any, *args: Any, **kwargs: Any) -> None:
        """Takes one JSON object: a job as in the schema, or ``{"job_id": ...}`` for a job already recorded."""
        try:
            ending = deliver(get_runtime(), args, kwargs)
        except NotRecorded as exc:  # back to the queue, after a pause (the broker may be up, Redis not yet)
            get_logger("cancelq.intake").warning("message_requeued", why=str(exc)[:300])
            time.sleep(REQUEUE_PAUSE_S)
            raise Reject(str(exc), requeue=True) from exc
        if ending is not None:
            raise ending  # Flower: a dead letter as FAILURE, a wait as RETRY (acked either way)

    return app


app = make_app()
_pump: list[Pump] = []
_delivery: list[delivery.DeliveryService] = []
_pushes: list[pushes.PushProcessor] = []
EVENTS_TRIM_S = 60.0
"""How often each worker trims the event stream by age (with its heartbeat)."""


def publish_due(job_id: str) -> None:
    """The pump's publish: the job's summary read back from the ledger, so Flower shows it on every run."""
    runtime = get_runtime()
    raw = runtime.redis.hget(keys.job(job_id), "job")
    job = json.loads(raw) if raw else {}
    runtime.sender.send(job_id, f"{job.get('platform')}/{job.get('shop')} order={job.get('order_id')} "
                                f"reason={job.get('reason')}" if job else None)


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
    upgrade_keys(runtime.redis, log)
    indexed = runtime.dead_letters.ensure_indexed()
    if indexed:
        log.info("dead_letters_indexed", entries=indexed)
    started = now_ms()
    trimmed = [0.0]

    runtime.worker_name = hostname

    def heartbeat() -> None:
        clockwatch.check(runtime.redis, runtime.clock, hostname)  # before the first beat says the worker is up
        runtime.redis.set(keys.worker(hostname), started, ex=60)
        if time.monotonic() - trimmed[0] >= EVENTS_TRIM_S:
            runtime.events.trim(now_ms())
            trimmed[0] = time.monotonic()

    pump = Pump(runtime.delayed, publish_due, interval_s=runtime.settings.pump_interval_s, heartbeat=heartbeat,
                on_error=lambda exc: log.warning("pump_error", error=f"{type(exc).__name__}: {exc}"))
    pump.start()
    _pump.append(pump)
    _delivery.append(delivery.start(runtime, hostname, busy=lambda: bool(worker_state.active_requests)))
    _pushes.append(pushes.start(runtime, hostname))
    log.info("worker_ready", hostname=hostname)


signals.worker_ready.connect(serve_worker_metrics)


@signals.worker_shutdown.connect
def _stop_pump(sender: Any = None, **_: Any) -> None:
    for pump in _pump:
        pump.stop()
    for service in _delivery:
        service.stop()
    for processor in _pushes:
        processor.stop()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        get_runtime().redis.delete(keys.worker(str(hostname)))
