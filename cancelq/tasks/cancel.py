"""The cancel task's body: accept one broker message, then run the job it names through one delivery.

The Celery task itself is registered by the worker (``cancelq.worker.app``), which hands each message here
with the process's ``Runtime``.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog

from cancelq.core import counters
from cancelq.jobs.intake import admit
from cancelq.runtime import Runtime
from cancelq.tasks.run import JobRun

log = structlog.get_logger("cancelq.job")

ONE_ARGUMENT = "the task takes exactly one argument: a JSON object (see cancelq/schemas/job.schema.json)"


UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)
"""Redis errors that pass (a restart, a failover, a partition): anything else is a fault to report, not retry."""


class NotRecorded(Exception):
    """The message's job could not be recorded (Redis unreachable while the worker took the message in): the
    message must go back to the broker, not be acknowledged, or a job sent straight to the queue is lost."""


def deliver(runtime: Runtime, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception | None:
    """Run the message's job; what to raise for Flower afterwards (a dead letter, a wait), if anything.
    Raises ``NotRecorded`` when the message could not be taken in."""
    try:
        accepted = accept_message(runtime, args, kwargs)
    except UNREACHABLE as exc:
        raise NotRecorded(f"{type(exc).__name__}: {exc}") from exc
    if accepted is None:
        return None
    run = JobRun(runtime, *accepted)
    with counters.JOBS_RUNNING.track_inprogress():
        run.run()
    return run.ending


def accept_message(runtime: Runtime, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """(job id, the job if the message carried it) of a job to run; None when there is nothing to run."""
    if len(args) != 1 or kwargs or not isinstance(args[0], dict):
        runtime.ledger.reject({"args": list(args), "kwargs": kwargs}, ONE_ARGUMENT, source="broker")
        return None
    payload: dict[str, Any] = args[0]
    if set(payload) in ({"job_id"}, {"job_id", "job"}):
        return _recorded(runtime, payload)
    admitted = admit(runtime, payload, source="broker")
    if admitted.rejected:
        log.warning("job_rejected", job_id=admitted.job_id, reason=admitted.reason)
        return None
    if not admitted.created:
        return None
    return admitted.job_id, admitted.job.to_dict() if admitted.job is not None else None


def _recorded(runtime: Runtime, payload: dict[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """A message naming a recorded job: its id (and the job as carried); a name that is no job id is
    recorded as rejected. A well-formed id the ledger does not hold is left to ``Ledger.begin`` (a record
    that expired leaves nothing to run)."""
    job_id, job = payload["job_id"], payload.get("job")
    if not isinstance(job_id, str) or not job_id or len(job_id) > 64 or not job_id.isalnum():
        reason = "job_id: a recorded job's id is 1-64 letters and digits (cancelq's producers send them)"
        runtime.ledger.reject(payload, reason, source="broker")
        return None
    return job_id, job if isinstance(job, dict) else None


__all__ = ["NotRecorded", "accept_message", "deliver"]
