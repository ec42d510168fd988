"""Sending recorded jobs to the workers: the producers' side of the broker.

Producers (the Python API, campaigns, the pump) send what they already recorded in the ledger, as
``{"job_id": ..., "job": {...}}`` (or ``{"job_id": ...}`` alone): the worker trusts the ledger, not the
message. A producer needs no worker: this builds a Celery app of its own, for sending only, when the
first job is sent.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from celery import Celery

from cancelq.core import connections
from cancelq.jobs.contract import TASK_NAME


class Sender:
    """Sends task ``cancelq.cancel`` messages to ``queue`` on ``broker_url``."""

    def __init__(self, broker_url: str, queue: str) -> None:
        self.broker_url = broker_url
        self.queue = queue

    @cached_property
    def app(self) -> Celery:
        app = Celery("cancelq-sender", set_as_current=False)
        app.conf.update(**connections.celery_broker(self.broker_url), task_serializer="json",
                        accept_content=["json"], task_ignore_result=True, broker_connection_retry_on_startup=True,
                        task_send_sent_event=True)
        return app

    def send(self, job_id: str, summary: str | None = None, job: dict[str, Any] | None = None) -> None:
        """Send a recorded job; with ``job`` (as recorded), the worker need not read it first."""
        self.app.send_task(TASK_NAME, args=[{"job_id": job_id, "job": job} if job is not None else {"job_id": job_id}],
                           queue=self.queue, argsrepr=f"job={job_id} {summary}" if summary else f"job={job_id}")
