"""Shopee's lost pushes: the pushes it could not deliver, listed and then confirmed as consumed.

``v2.push.get_lost_push_message`` answers the earliest (at most 100) pushes lost in the last 3 days and not yet
confirmed, with ``has_next_page`` and ``last_message_id``; ``v2.push.confirm_consumed_lost_push_message`` with
that ``last_message_id`` confirms every message up to it. Paging is by confirmation, so a caller confirms a page
only once every message of it is kept (platforms.md 1.7). Both are partner-level calls, signed without a shop's
token [UNVERIFIED against live Shopee: community clients differ].

Each message's ``data`` is the push's own JSON body, as a string; ``LostPush.order_status`` reads an order status
push (code 3) from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .adapter import ShopeeAdapter

LOST_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
ORDER_STATUS_CODE = 3


@dataclass(frozen=True)
class LostPush:
    msg_id: int
    shop_id: int | None
    """Absent for partner-level pushes."""
    timestamp: int
    """When the push was lost (epoch seconds)."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """The push as Shopee would have posted it (``code``, ``shop_id``, ``data``...)."""

    @property
    def order_status(self) -> tuple[str, str, int] | None:
        """(order_sn, status, update_time) of an order status push; None for any other push."""
        data = self.body.get("data")
        if self.body.get("code") != ORDER_STATUS_CODE or not isinstance(data, Mapping):
            return None
        order_sn, status = data.get("ordersn"), data.get("status")
        if not isinstance(order_sn, str) or not isinstance(status, str):
            return None
        update_time = data.get("update_time")
        return order_sn, status, int(update_time) if isinstance(update_time, int | float) else 0


@dataclass(frozen=True)
class LostPage:
    messages: tuple[LostPush, ...]
    has_next_page: bool
    last_message_id: int | None
    request_id: str | None


def get_lost_push_message(adapter: ShopeeAdapter) -> LostPage:
    """The earliest lost pushes not yet confirmed (through the adapter's throttle, like any call)."""
    response, rid = adapter.call_partner("GET", LOST_PATH, api="get_lost_push_message")
    messages = tuple(_lost(m) for m in response.get("push_message_list") or () if isinstance(m, Mapping))
    last = response.get("last_message_id")
    return LostPage(messages, bool(response.get("has_next_page")), int(last) if isinstance(last, int) else None,
                    rid)


def confirm_consumed_lost_push_message(adapter: ShopeeAdapter, last_message_id: int) -> str | None:
    """Confirm every lost push up to ``last_message_id`` as consumed; the request_id."""
    _, rid = adapter.call_partner("POST", CONFIRM_PATH, api="confirm_consumed_lost_push_message",
                                  payload={"last_message_id": last_message_id})
    return rid


def _lost(message: Mapping[str, Any]) -> LostPush:
    raw = message.get("data")
    try:
        body = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        body = {}
    shop_id = message.get("shop_id")
    return LostPush(msg_id=int(message.get("msg_id") or 0), shop_id=int(shop_id) if shop_id else None,
                    timestamp=int(message.get("timestamp") or 0), body=body if isinstance(body, Mapping) else {})


__all__ = ["LostPage", "LostPush", "confirm_consumed_lost_push_message", "get_lost_push_message"]
