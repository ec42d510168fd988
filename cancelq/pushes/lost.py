"""Shopee's lost pushes, taken into the pushes stream: what a reconciliation round asks Shopee for first.

For each Shopee app (partner id) with a shop in the round, one partner-level call lists the order-status pushes
Shopee could not deliver (``cancelq.platforms.shopee.push``). Each is kept as the receiver would keep it (a
``PushNotice`` in ``keys.PUSHES``, deduplicated by its message id), and the page is confirmed as consumed only
once every message of it is kept: Shopee pages by confirmation, so a message is never confirmed before it is
safe. The call goes through the shop's gate like every call.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import structlog

from cancelq.platforms.shopee.adapter import ShopeeAdapter
from cancelq.platforms.shopee.push import LostPush, confirm_consumed_lost_push_message, get_lost_push_message
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.store import PushStore
from cancelq.runtime import Runtime
from cancelq.shops.registry import Shop

log = structlog.get_logger("cancelq.pushes")

MAX_PAGES = 5
"""Pages one round takes per app (100 messages each); the rest waits for the next round."""
BUYER_STATUSES = frozenset({"IN_CANCEL"})


class LostPushes:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.store = PushStore(rt.redis)

    def take(self, shops: Iterable[Shop]) -> int:
        """Keep the lost pushes of the apps of ``shops`` (Shopee's); how many were new."""
        by_app: dict[str, Shop] = {}
        for shop in shops:
            if shop.platform == "shopee":
                by_app.setdefault(str(shop.credentials.get("partner_id")), shop)
        return sum(self.take_app(shop) for shop in by_app.values())

    def take_app(self, shop: Shop) -> int:
        gate = self.rt.delivery_gate(shop, f"lost-push-{shop.name}", reserve=False)
        gate.for_step(write_step=None)
        adapter = cast(ShopeeAdapter, self.rt.adapter(shop, gate))
        names = self.shop_names(str(shop.credentials.get("partner_id")))
        kept = 0
        for _ in range(MAX_PAGES):
            page = get_lost_push_message(adapter)
            kept += sum(self.keep(message, names) for message in page.messages)
            if page.last_message_id is None or not page.messages:
                break
            confirm_consumed_lost_push_message(adapter, page.last_message_id)
            if not page.has_next_page:
                break
        if kept:
            log.info("lost_pushes_kept", partner_id=shop.credentials.get("partner_id"), pushes=kept)
        return kept

    def shop_names(self, partner_id: str) -> dict[int, str]:
        """Shopee shop id -> registry name, for the shops of one app."""
        return {int(s.credentials["shop_id"]): s.name for s in self.rt.shops.all()
                if s.platform == "shopee" and str(s.credentials.get("partner_id")) == partner_id
                and s.credentials.get("shop_id")}

    def keep(self, message: LostPush, names: dict[int, str]) -> bool:
        found = message.order_status
        name = names.get(message.shop_id or 0)
        if found is None or name is None:
            return False
        order_sn, status, update_time = found
        notice = PushNotice(platform="shopee", shop=name, order_id=order_sn,
                            kind="buyer_request" if status in BUYER_STATUSES else "status", status=status,
                            message_id=str(message.msg_id), pushed_at_ms=update_time * 1000,
                            received_ms=int(time.time() * 1000))
        return self.store.append(notice) is not None


__all__ = ["LostPushes"]
