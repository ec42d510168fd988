"""Feeding pushes as the receiver would (``PushStore.append``) and reading what the fleet made of them."""

from __future__ import annotations

import itertools
import time
from typing import Any

from cancelq.jobs.events import Event
from cancelq.jobs.intake import admit
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.store import PushStore
from cancelq.runtime import Runtime
from tests.kits import Kit

_ids = itertools.count(1)


def notice(platform: str, shop: str, order_id: str, status: str, *, kind: str = "status",
           message_id: str | None = None) -> PushNotice:
    now = int(time.time() * 1000)
    return PushNotice(platform=platform, shop=shop, order_id=order_id, kind=kind, status=status,
                      message_id=message_id or f"msg-{next(_ids)}", pushed_at_ms=now, received_ms=now)


def push(rt: Runtime, platform: str, shop: str, order_id: str, status: str, **more: Any) -> PushNotice:
    """Append one push to the stream, as the receiver does after verifying it."""
    sent = notice(platform, shop, order_id, status, **more)
    PushStore(rt.redis).append(sent)
    return sent


def submit(rt: Runtime, kit: Kit, shop: str, order_id: str) -> str:
    admitted = admit(rt, {"platform": kit.platform, "shop": shop, "order_id": order_id,
                          "reason": "CUSTOMER_REQUEST", "note": "test"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def events_of(rt: Runtime, *types: str) -> list[Event]:
    return rt.events.recent(count=1000, types=types)


CANCELLED_WORD = {"shopee": "CANCELLED", "lazada": "canceled", "shopline": "canceled", "shoplazza": "cancelled"}
"""The word each platform's push carries for a cancel (as the receiver keeps it)."""
