"""``GET /v1/events?after=ID``: the event feed (the outbox stream ``keys.EVENTS``), oldest first, paged by id.

A key for some shops sees only its shops' events (events of no shop, e.g. a campaign's, need a key for all).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import require
from cancelq.api.context import api_of
from cancelq.api.models import EventOut, EventPage
from cancelq.api.problems import documented
from cancelq.jobs.events import Event, matches

router = APIRouter(tags=["events"])
EVENT_ID = r"^[0-9]{1,15}-[0-9]{1,19}$"
"""A stream id Redis reads: milliseconds, then a sequence below 2**64."""


@router.get("/v1/events", response_model=EventPage, responses=documented(401, 403, 422, 429, 503))
def list_events(request: Request, key: ApiKey = Depends(require("events:read")),
                after: str | None = Query(None, pattern=EVENT_ID, description="the last event id you have"),
                limit: int = Query(100, ge=1, le=1000),
                types: list[str] | None = Query(None, max_length=20, description="type patterns, e.g. cancel.*")
                ) -> EventPage:
    """Events after ``after`` (without it: the latest ``limit``); ``next_after`` continues where this page ends."""
    events = api_of(request).rt.events
    found = events.recent(count=limit, after=after)
    last = found[-1].id if found else after
    wanted = [e for e in found if _visible(key, e) and _typed(e, types)]
    return EventPage(events=[EventOut(**e.to_dict()) for e in wanted], next_after=last)


def _visible(key: ApiKey, event: Event) -> bool:
    if key.all_shops:
        return True
    platform, shop = event.data.get("platform"), event.data.get("shop")
    return isinstance(platform, str) and isinstance(shop, str) and key.allows_shop(platform, shop)


def _typed(event: Event, types: list[str] | None) -> bool:
    return matches(event.type, types)
