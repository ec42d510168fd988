"""Dead letters over HTTP: list them with the CLI's filters (paged), replay one, or replay every match.

Listing needs ``jobs:read``, replaying ``deadletters:replay``; a key for some shops sees and replays only its
shops' dead letters (another shop's is the same 404 as none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import require
from cancelq.api.context import api_of
from cancelq.api.jobviews import replayed_items
from cancelq.api.models import DeadLetterOut, DeadLetterPage, ReplayFilterIn, ReplayOut
from cancelq.api.problems import Problem, documented
from cancelq.jobs.deadletters import DeadFilter

router = APIRouter(tags=["dead letters"])
ERRORS = documented(400, 401, 403, 404, 422, 429, 503)
CURSOR = r"^[0-9]{1,15}:[0-9a-f]{1,40}$"


def _visible(key: ApiKey, entry: dict[str, Any]) -> bool:
    job = entry.get("job") or {}
    return key.allows_shop(str(job.get("platform", "")), str(job.get("shop", "")))


def _after(entries: Iterator[dict[str, Any]], cursor: str | None) -> Iterator[dict[str, Any]]:
    """The entries (newest first) past the cursor: the (failed at, job id) of the last one of the page before."""
    if cursor is None:
        yield from entries
        return
    at_text, job_id = cursor.split(":", 1)
    at = int(at_text)
    for entry in entries:
        mark = (int(entry.get("last_failure_at") or 0), str(entry["job_id"]))
        if mark < (at, job_id):
            yield entry


@router.get("/v1/dead-letters", response_model=DeadLetterPage, responses=ERRORS)
def list_dead_letters(request: Request, key: ApiKey = Depends(require("jobs:read")),
                      platform: str | None = Query(None, max_length=50),
                      shop: str | None = Query(None, max_length=200), code: str | None = Query(None, max_length=200),
                      campaign: str | None = Query(None, max_length=100),
                      kind: Literal["permanent", "exhausted", "poison"] | None = None,
                      since_ms: int | None = Query(None, ge=0), limit: int = Query(100, ge=1, le=1000),
                      cursor: str | None = Query(None, pattern=CURSOR)) -> DeadLetterPage:
    """Newest first; ``next_cursor`` pages on."""
    where = DeadFilter(platform, shop, code, campaign, kind, since_ms)
    entries = (e for e in api_of(request).rt.dead_letters.iter(where) if _visible(key, e))
    page = list(islice(_after(entries, cursor), limit))
    last = page[-1] if len(page) == limit else None
    return DeadLetterPage(dead_letters=[DeadLetterOut(**e) for e in page],
                          next_cursor=f"{int(last.get('last_failure_at') or 0)}:{last['job_id']}" if last else None)


@router.post("/v1/dead-letters/replay", response_model=ReplayOut, responses=ERRORS)
def replay_matching(request: Request, body: ReplayFilterIn,
                    key: ApiKey = Depends(require("deadletters:replay"))) -> ReplayOut:
    """Replay every dead letter matching the filter (at most ``limit``), through the same checks as any replay."""
    api = api_of(request)
    where = DeadFilter(body.platform, body.shop, body.code, body.campaign, body.kind, body.since_ms)
    ids = [e["job_id"] for e in islice((e for e in api.rt.dead_letters.iter(where) if _visible(key, e)), body.limit)]
    return ReplayOut(replayed=replayed_items([api.client.replay(job_id) for job_id in ids]))


@router.post("/v1/dead-letters/{job_id}/replay", response_model=ReplayOut, responses=ERRORS)
def replay_one(request: Request, job_id: str, key: ApiKey = Depends(require("deadletters:replay"))) -> ReplayOut:
    api = api_of(request)
    entry = api.rt.dead_letters.show(job_id) if re.fullmatch(r"[0-9a-f]{1,40}", job_id) else None
    if entry is None or not _visible(key, entry):
        raise Problem(404, "not-found", f"no dead letter {job_id[:64]} for this key")
    return ReplayOut(replayed=replayed_items([api.client.replay(job_id)]))
