"""Running a job's deliveries in the test process, as a worker would, until it is final."""

from __future__ import annotations

import json
from typing import Any

from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.runtime import Runtime
from cancelq.tasks.run import JobRun
from tests.helpers import wait_until


def hint(rt: Runtime, job_id: str) -> dict[str, Any]:
    """The job as its producer's message carries it: as the ledger recorded it."""
    return json.loads(rt.redis.hget(keys.job(job_id), "job"))  # type: ignore[no-any-return, arg-type]


def run_until_final(rt: Runtime, job_id: str, *, first_hint: bool = True, max_runs: int = 20) -> JobRecord:
    """Deliver the job as its producer's message would (carrying the job, unless ``first_hint`` is False), then
    the way the pump would (the id alone), each time it falls due, until it is final."""
    for run in range(max_runs):
        JobRun(rt, job_id, hint(rt, job_id) if run == 0 and first_hint else None).run()
        record = rt.ledger.get(job_id)
        assert record is not None
        if record.final:
            return record
        wait_until(lambda: (rt.ledger.get(job_id).due_at or 0) <= now_ms(), timeout_s=10,  # type: ignore[union-attr]
                   what=f"job {job_id} to fall due")
    raise AssertionError(f"job {job_id} not final after {max_runs} runs")
