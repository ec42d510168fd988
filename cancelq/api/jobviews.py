"""How jobs read in answers: the ledger's record as ``JobOut``, its ``Location``, ``Retry-After`` while not final."""

from __future__ import annotations

import math
from typing import Any

from cancelq.api.models import BatchItem, JobOut
from cancelq.client import JobHandle
from cancelq.jobs.ledger import JobRecord, now_ms

MAX_POLL_S = 60


def location(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def job_out(record: JobRecord) -> JobOut:
    data = record.to_dict()
    return JobOut(**data, final=record.final, location=location(record.job_id))


def queued_out(job_id: str, job: dict[str, Any]) -> JobOut:
    """A job just recorded, without reading it back: queued, nothing tried yet."""
    now = now_ms()
    return JobOut(job_id=job_id, state="queued", final=False, job=job, created_at=now, updated_at=now,
                  location=location(job_id))


def poll_after_s(record: JobRecord, default_s: int) -> int | None:
    """Seconds to wait before asking again (a wait's due time, else ``default_s``); None once final."""
    if record.final:
        return None
    if record.due_at and record.due_at > now_ms():
        return min(MAX_POLL_S, max(default_s, math.ceil((record.due_at - now_ms()) / 1000)))
    return default_s


def replayed_items(handles: list[JobHandle]) -> list[BatchItem]:
    """What replays did, one item each (a replay runs the job again: 202, or 422 if it was refused)."""
    return [BatchItem(index=i, status=422 if h.rejected else 202, job_id=h.job_id, state=h.state,
                      errors=[h.reason] if h.rejected else None, location=location(h.job_id))
            for i, h in enumerate(handles)]
