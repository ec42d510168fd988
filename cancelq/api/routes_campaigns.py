"""Campaigns over HTTP: upload a CSV or JSONL file (streamed to disk, then the campaign's own intake), follow
it, download its report (a CSV stream), pause, resume, abort, redo the failed rows.

A campaign spans shops, so these need a key for all shops (scope ``campaigns:write``).
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import all_shops, require
from cancelq.api.context import Api, api_of
from cancelq.api.jobviews import replayed_items
from cancelq.api.models import CampaignOut, CampaignStarted, ReplayOut
from cancelq.api.problems import Problem, documented
from cancelq.campaigns.files import CampaignFileError
from cancelq.campaigns.intake import IntakeResult
from cancelq.campaigns.record import ID_PATTERN, Campaign, CampaignError, CampaignNotFound
from cancelq.campaigns.report import ReportRow

router = APIRouter(tags=["campaigns"])
ERRORS = documented(401, 403, 404, 409, 422, 429, 503)
FORMATS = {"text/csv": "csv", "application/jsonl": "jsonl", "application/x-ndjson": "jsonl",
           "application/jsonlines": "jsonl"}
UPLOAD = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}}, "application/jsonl": {"schema": {"type": "string"}}}}}


def campaigner(key: ApiKey = Depends(require("campaigns:write"))) -> ApiKey:
    all_shops(key, "a campaign")
    return key


def campaign_out(campaign: Campaign) -> CampaignOut:
    s = campaign.summary()
    return CampaignOut(campaign_id=campaign.id, status=campaign.status, dry_run=campaign.dry_run,
                       round=campaign.round, source=campaign.source, counts=campaign.counts,
                       max_rate=campaign.max_rate, created_at=s["created_at"], intake_done_at=s["intake_done_at"],
                       finished_at=s["finished_at"], elapsed_s=s["elapsed_s"], rate_per_s=s["rate_per_s"],
                       location=f"/v1/campaigns/{campaign.id}", report=f"/v1/campaigns/{campaign.id}/report")


def _format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in FORMATS:
        raise Problem(415, "unsupported-media-type", f"send the file as text/csv or application/jsonl "
                      f"(got {media[:60] or 'no Content-Type'}), or say ?format=csv|jsonl")
    return FORMATS[media]


@router.post("/v1/campaigns", status_code=202, response_model=CampaignStarted, openapi_extra=UPLOAD,
             responses=documented(401, 403, 409, 413, 415, 422, 429, 503))
async def upload(request: Request, key: ApiKey = Depends(campaigner),
                 fmt: str | None = Query(None, alias="format", pattern="^(csv|jsonl)$"),
                 dry_run: bool = False, strict: bool = False, max_rate: float | None = Query(None, gt=0, le=10_000),
                 reason: str | None = Query(None, max_length=50), platform: str | None = Query(None, max_length=50),
                 shop: str | None = Query(None, max_length=200)) -> JSONResponse:
    """Send a file's rows as one campaign; invalid rows are listed (line, reason) and the valid ones still go
    (with ``strict``, any invalid row refuses the file: 422, nothing sent)."""
    api, kind = api_of(request), _format(request, fmt)
    folder = Path(tempfile.mkdtemp(prefix="cancelq-upload-"))
    try:
        path = folder / f"upload.{kind}"
        with path.open("wb") as handle:
            async for chunk in request.stream():
                handle.write(chunk)
        result = await run_in_threadpool(_run, api, path, kind, dry_run, strict, max_rate, reason, platform, shop)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.refused:
        raise Problem(422, "campaign-refused", f"--strict: {result.invalid_count} invalid row(s), nothing was sent",
                      errors=[f"line {line}: {why}" for line, why in result.invalid])
    campaign = await run_in_threadpool(api.client.campaign, result.campaign_id)
    return JSONResponse(_started(result, campaign).model_dump(), status_code=202,
                        headers={"Location": f"/v1/campaigns/{result.campaign_id}"})


def _run(api: Api, path: Path, kind: str, dry_run: bool, strict: bool, max_rate: float | None, reason: str | None,
         platform: str | None, shop: str | None) -> IntakeResult:
    try:
        return api.client.run_campaign(path, platform=platform, shop=shop, reason=reason, dry_run=dry_run,
                                       strict=strict, max_rate=max_rate, fmt=kind)
    except (CampaignFileError, CampaignError) as exc:
        raise Problem(422, "invalid-campaign", str(exc).replace("upload." + kind, "the file")) from None


def _started(result: IntakeResult, campaign: Campaign) -> CampaignStarted:
    return CampaignStarted(**campaign_out(campaign).model_dump(), read=result.read, sent=result.sent,
                           invalid_count=result.invalid_count,
                           invalid=[{"line": line, "reason": why} for line, why in result.invalid],
                           refused=result.refused)


def _campaign(api: Api, campaign_id: str) -> Campaign:
    if not ID_PATTERN.match(campaign_id):
        raise Problem(404, "not-found", f"no campaign {campaign_id[:64]}")
    try:
        return api.client.campaign(campaign_id)
    except CampaignNotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignOut, responses=ERRORS)
def show(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> CampaignOut:
    return campaign_out(_campaign(api_of(request), campaign_id))


@router.get("/v1/campaigns/{campaign_id}/report", responses={
    200: {"description": "one CSV row per input row", "content": {"text/csv": {"schema": {"type": "string"}}}},
    **ERRORS}, response_class=StreamingResponse)
def report(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> StreamingResponse:
    api = api_of(request)
    _campaign(api, campaign_id)
    rows = api.client.campaign_report(campaign_id)
    return StreamingResponse(_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'})


def _csv(rows: Iterator[ReportRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ReportRow.columns())
    for count, row in enumerate(rows, start=1):
        writer.writerow(astuple(row))
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _control(api: Api, campaign_id: str, action: str) -> CampaignOut:
    _campaign(api, campaign_id)
    client = api.client
    try:
        done = {"pause": client.pause_campaign, "resume": client.resume_campaign,
                "abort": client.abort_campaign}[action](campaign_id)
    except CampaignError as exc:
        raise Problem(409, "campaign-state", str(exc)) from None
    return campaign_out(done)


@router.post("/v1/campaigns/{campaign_id}/pause", response_model=CampaignOut, responses=ERRORS)
def pause(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> CampaignOut:
    """No write of the campaign's jobs leaves any worker until resumed."""
    return _control(api_of(request), campaign_id, "pause")


@router.post("/v1/campaigns/{campaign_id}/resume", response_model=CampaignOut, responses=ERRORS)
def resume(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> CampaignOut:
    return _control(api_of(request), campaign_id, "resume")


@router.post("/v1/campaigns/{campaign_id}/abort", response_model=CampaignOut, responses=ERRORS)
def abort(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> CampaignOut:
    """For good: jobs whose write was not sent end ``aborted``; writes in flight finish."""
    return _control(api_of(request), campaign_id, "abort")


@router.post("/v1/campaigns/{campaign_id}/redo-failed", response_model=ReplayOut, responses=ERRORS)
def redo_failed(request: Request, campaign_id: str, key: ApiKey = Depends(campaigner)) -> ReplayOut:
    """Replay the campaign's dead letters (after a fix): a new round."""
    api = api_of(request)
    _campaign(api, campaign_id)
    try:
        handles = api.client.redo_failed(campaign_id)
    except CampaignError as exc:
        raise Problem(409, "campaign-state", str(exc)) from None
    return ReplayOut(replayed=replayed_items(handles))
