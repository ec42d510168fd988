"""``POST /v1/cancellations`` (one job) and ``/v1/cancellations/batch`` (up to ``api_batch_max`` in one intake).

The body is the job contract; intake checks it as it checks every producer's job, so an invalid job is 422
with its reasons and is recorded rejected. The key's name is recorded as the job's ``source``. A new job is
202 with ``Location``; a repeat (same idempotency key: the job's own, ``platform/shop/order``, or the
``Idempotency-Key`` header) is 200 with the job and ``Idempotent-Replayed: true``; a different job under a used
key is 422.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import authorize, bearer, check_shop, require
from cancelq.api.context import Api, api_of
from cancelq.api.idempotency import MAX_KEY_CHARS, fingerprint
from cancelq.api.jobviews import job_out, location, queued_out
from cancelq.api.models import JOB_SCHEMA_REF, BatchIn, BatchItem, BatchOut, JobOut
from cancelq.api.problems import Problem, documented, problem_response
from cancelq.client import JobHandle
from cancelq.jobs.contract import InvalidJob, parse_job

router = APIRouter(tags=["cancellations"])
REPLAYED = "Idempotent-Replayed"
JOB_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": JOB_SCHEMA_REF}}}}}
Answer = tuple[int, dict[str, Any], dict[str, str]]


async def json_body(request: Request) -> Any:
    """The body as JSON, or ``NotJson`` with the text (recorded rejected like any malformed job)."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return NotJson(raw.decode("utf-8", "replace")[:4000])


class NotJson:
    def __init__(self, text: str) -> None:
        self.text = text


async def idempotency_header(
        idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=MAX_KEY_CHARS,
                                             description="replays this request's answer for 24 h")) -> str | None:
    return idempotency_key


@router.post("/v1/cancellations", status_code=202, response_model=JobOut, openapi_extra=JOB_BODY,
             responses={200: {"model": JobOut, "description": "a repeat: the job submitted before"},
                        **documented(400, 401, 403, 409, 413, 422, 429, 503)})
async def create(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                 body: Any = Depends(json_body), header: str | None = Depends(idempotency_header)) -> JSONResponse:
    """Submit one cancellation (the job contract); needs ``jobs:write``."""
    return await run_in_threadpool(_create, request, credentials, body, header)


def _create(request: Request, credentials: HTTPAuthorizationCredentials | None, body: Any,
            header: str | None) -> JSONResponse:
    key, api = authorize(request, credentials, "jobs:write"), api_of(request)
    if isinstance(body, dict):
        check_shop(key, body.get("platform"), body.get("shop"))
    path = request.url.path
    return _idempotent(api, key, header, path, body if not isinstance(body, NotJson) else body.text,
                       lambda: _one(api, key, body), request)


@router.post("/v1/cancellations/batch", response_model=BatchOut,
             responses={202: {"model": BatchOut, "description": "at least one new job"},
                        **documented(400, 401, 403, 409, 413, 422, 429, 503)})
def create_batch(batch: BatchIn, request: Request, key: ApiKey = Depends(require("jobs:write")),
                 header: str | None = Depends(idempotency_header)) -> JSONResponse:
    """Submit up to 1,000 cancellations in one round of intake; one result per item, in order."""
    api = api_of(request)
    if len(batch.jobs) > api.settings.api_batch_max:
        raise Problem(422, "batch-too-large", f"{len(batch.jobs)} jobs: a batch holds at most "
                      f"{api.settings.api_batch_max}")
    for index, raw in enumerate(batch.jobs):
        try:
            check_shop(key, raw.get("platform"), raw.get("shop"))
        except Problem as exc:
            raise Problem(403, "forbidden", f"jobs[{index}]: {exc.detail}; nothing was submitted") from None
    return _idempotent(api, key, header, request.url.path, batch.jobs, lambda: _many(api, key, batch.jobs), request)


def _idempotent(api: Api, key: ApiKey, header: str | None, path: str, body: Any, run: Callable[[], Answer],
                request: Request) -> JSONResponse:
    if header is None:
        if api.settings.api_require_idempotency_key:
            raise Problem(400, "idempotency-key-missing", "this API wants an Idempotency-Key header on every POST "
                          "that creates jobs")
        return _respond(request, *run())
    print_ = fingerprint(path, body)
    held = api.idempotency.take(key.id, header, print_)
    if held is not None:
        return _replay(api, request, held.fingerprint == print_, held.answer)
    try:
        status, content, headers = run()
    except BaseException:
        api.idempotency.drop(key.id, header)
        raise
    api.idempotency.keep(key.id, header, print_, {"status": status, "content": content, "headers": headers})
    return _respond(request, status, content, headers)


def _replay(api: Api, request: Request, same: bool, answer: dict[str, Any] | None) -> JSONResponse:
    if not same:
        raise Problem(422, "idempotency-key-reused", "this Idempotency-Key was used for a different request")
    if answer is None:
        raise Problem(409, "idempotency-key-in-flight", "a request with this Idempotency-Key is still being "
                      "answered; try again shortly", headers={"Retry-After": "1"})
    status, content = int(answer["status"]), answer["content"]
    if status == 202 and "job_id" in content:
        record = api.client.job(str(content["job_id"]))
        status, content = 200, job_out(record).model_dump()
    return _respond(request, status, content, {**answer["headers"], REPLAYED: "true"})


def _respond(request: Request, status: int, content: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    if status >= 400:
        return problem_response(request, status, str(content.pop("slug")), str(content.pop("detail")),
                                headers=headers, **content)
    return JSONResponse(content, status_code=status, headers=headers)


def _one(api: Api, key: ApiKey, body: Any) -> Answer:
    if isinstance(body, NotJson):
        job_id = api.rt.ledger.reject(body.text, "body: not valid JSON", source=key.name)
        return 422, {"slug": "invalid-job", "detail": "body: not valid JSON", "errors": ["body: not valid JSON"],
                     "job_id": job_id}, {}
    raw = {**body, "source": key.name} if isinstance(body, dict) else body
    handle = api.client.submit_many([raw], source=key.name)[0]
    item = _item(api, 0, raw, handle)
    if item.status == 422:
        return 422, {"slug": "invalid-job" if item.repeat is False else "idempotency-key-reused",
                     "detail": "; ".join(item.errors or []), "errors": item.errors, "job_id": handle.job_id}, {}
    if item.status == 202:
        recorded = parse_job(raw, schema_checked=True).to_dict()  # intake has validated it
        return 202, queued_out(handle.job_id, recorded).model_dump(), {"Location": item.location}
    return 200, job_out(api.client.job(handle.job_id)).model_dump(), {"Location": item.location, REPLAYED: "true"}


def _many(api: Api, key: ApiKey, jobs: list[dict[str, Any]]) -> Answer:
    raws = [{**raw, "source": key.name} for raw in jobs]
    handles = api.client.submit_many(raws, source=key.name)
    items = [_item(api, i, raw, handle) for i, (raw, handle) in enumerate(zip(raws, handles, strict=True))]
    out = BatchOut(results=items, created=sum(i.status == 202 for i in items),
                   repeated=sum(i.status == 200 for i in items), rejected=sum(i.status == 422 for i in items))
    return (202 if out.created else 200), out.model_dump(exclude_none=True), {}


def _item(api: Api, index: int, raw: Any, handle: JobHandle) -> BatchItem:
    """What a single POST would answer for this job: 202 new, 200 a repeat of the same job, 422 otherwise."""
    if handle.rejected and handle.created:
        return BatchItem(index=index, status=422, job_id=handle.job_id, state="rejected",
                         errors=handle.reason.split("; "))
    if handle.created:
        return BatchItem(index=index, status=202, job_id=handle.job_id, state=handle.state,
                         location=location(handle.job_id))
    if not _same_job(api, raw, handle.job_id):
        return BatchItem(index=index, status=422, job_id=handle.job_id, state=handle.state, repeat=True,
                         errors=["idempotency key: already used by a different job (see its location)"],
                         location=location(handle.job_id))
    return BatchItem(index=index, status=200, job_id=handle.job_id, state=handle.state, repeat=True,
                     location=location(handle.job_id))


def _same_job(api: Api, raw: Any, job_id: str) -> bool:
    """Whether the job recorded under the key is this one (who sent it aside)."""
    record = api.rt.ledger.get(job_id)
    try:
        job = parse_job(raw).to_dict()
    except InvalidJob:
        return False
    if record is None:
        return True
    return {k: v for k, v in record.job.items() if k != "source"} == {k: v for k, v in job.items() if k != "source"}
