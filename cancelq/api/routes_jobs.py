"""``GET /v1/jobs/{id}`` and ``GET /v1/jobs?client_ref=|platform=&shop=&order_id=``: state, attempts, steps with
request ids, last error, events; ``Retry-After`` while the job is not final.

A key for some shops only gets the same 404 for a job of another shop as for no job at all: an answer never
tells a key about a job it may not see.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import require
from cancelq.api.context import api_of
from cancelq.api.jobviews import job_out, poll_after_s
from cancelq.api.models import JobList, JobOut
from cancelq.api.problems import Problem, documented
from cancelq.jobs.contract import default_idempotency_key
from cancelq.jobs.ledger import JobRecord

router = APIRouter(tags=["jobs"])
JOB_ID = r"^[0-9a-f]{20}$"


def visible(key: ApiKey, record: JobRecord | None) -> bool:
    if record is None:
        return False
    return key.allows_shop(str(record.job.get("platform", "")), str(record.job.get("shop", "")))


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses=documented(401, 403, 404, 422, 429, 503))
def get_job(request: Request, job_id: str, key: ApiKey = Depends(require("jobs:read"))) -> JSONResponse:
    """One job (404 for no job, or one this key may not see)."""
    api = api_of(request)
    record = api.rt.ledger.get(job_id) if len(job_id) <= 64 else None
    if not visible(key, record):
        raise Problem(404, "not-found", f"no job {job_id[:64]} for this key (finished jobs are kept "
                      f"{api.settings.ledger_ttl_s / 86400:g} days)")
    assert record is not None
    headers = {}
    poll = poll_after_s(record, api.settings.api_poll_after_s)
    if poll is not None:
        headers["Retry-After"] = str(poll)
    return JSONResponse(job_out(record).model_dump(), headers=headers)


@router.get("/v1/jobs", response_model=JobList, responses=documented(400, 401, 403, 422, 429, 503))
def find_jobs(request: Request, key: ApiKey = Depends(require("jobs:read")),
              client_ref: str | None = Query(None, min_length=1, max_length=255),
              platform: str | None = Query(None, min_length=1, max_length=50),
              shop: str | None = Query(None, min_length=1, max_length=200),
              order_id: str | None = Query(None, min_length=1, max_length=100)) -> JobList:
    """The job of a producer's reference (``client_ref``), or of an order (``platform``, ``shop``, ``order_id``)."""
    api = api_of(request)
    records: list[JobRecord | None] = []
    if client_ref is not None:
        records.append(api.rt.ledger.find_ref(client_ref))
    if platform is not None and shop is not None and order_id is not None:
        records.append(api.rt.ledger.find(default_idempotency_key(platform, shop, order_id, [])))
    elif (platform, shop, order_id) != (None, None, None) or client_ref is None:
        raise Problem(400, "bad-query", "give client_ref, or platform, shop and order_id together")
    found = {r.job_id: r for r in records if r is not None and visible(key, r)}
    if client_ref is not None:
        found = {i: r for i, r in found.items() if r.job.get("client_ref") == client_ref}
    return JobList(jobs=[job_out(r) for r in found.values()])
