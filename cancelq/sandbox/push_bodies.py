"""What each platform sends when an order changes: body, headers and signature, made with the sandbox's own code.

Nothing here comes from ``cancelq.platforms``: a bug shared by the signer and the verifier would hide itself.

- Shopee (platforms.md 1.7): the order status push, ``code`` 3, ``msg_id``; ``Authorization`` = lowercase hex
  HMAC-SHA256(partner_key, callback URL + "|" + body).
- Lazada (2.7): one push per order line whose status changed: ``message_type`` 0 (trade order) with the line's
  status, or 10 (reverse order) with ``reverse_status`` CANCEL_INIT for a buyer's request (the lines flagged
  ``need_cancel_confirm`` or ``is_cancel_pending``, else every line not cancelled); ``Authorization`` =
  lowercase hex HMAC-SHA256(app_secret, app_key + body). Lazada sends no message id.
- SHOPLINE / Shoplazza (3.5, 4.5): the order as the body, topic ``orders/cancelled`` or ``orders/updated``; the
  signature header is base64 HMAC-SHA256(app secret, body); a webhook id header that a resend keeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .state import Order, Shop

CANCELLED = frozenset({"cancelled", "canceled", "CANCELLED"})


@dataclass(frozen=True)
class Message:
    """One push as the platform would send it; its duplicates are the same ``Message`` sent again."""

    platform: str
    shop: str
    order_id: str
    kind: str
    message_id: str
    body: bytes
    headers: dict[str, str]

    def describe(self) -> dict[str, str]:
        return {"platform": self.platform, "shop": self.shop, "order_id": self.order_id, "kind": self.kind,
                "message_id": self.message_id}


def _hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _b64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def shopee(shop: Shop, order: Order, kind: str, callback_url: str, told: dict[str, str]) -> list[Message]:
    msg_id = uuid.uuid4().hex
    now = int(time.time())
    data = {"ordersn": order.order_id, "status": order.status, "update_time": int(order.extra.get("update_time", now)),
            "items": [], "completed_scenario": None}
    body = _json({"msg_id": msg_id, "data": data, "shop_id": int(shop.ref), "code": 3, "timestamp": now})
    signature = _hex(shop.creds.get("partner_key", ""), callback_url.encode() + b"|" + body)
    headers = {"Content-Type": "application/json", "Authorization": signature}
    return [Message("shopee", shop.ref, order.order_id, kind, msg_id, body, headers)]


def lazada(shop: Shop, order: Order, kind: str, callback_url: str, told: dict[str, str]) -> list[Message]:
    """One message per line whose status differs from what was last pushed (``told``, updated here; every line on
    an order's first change), or per line the buyer asked to cancel."""
    now = int(time.time())
    messages = []
    flagged = {id(i) for i in order.items if i.get("need_cancel_confirm") or i.get("is_cancel_pending")}
    for item in order.items:
        line, status = str(item["order_item_id"]), str(item["status"])
        buyer = kind == "buyer_request" and status != "canceled" and (not flagged or id(item) in flagged)
        if not buyer and (kind == "buyer_request" or told.get(line) == status):
            told.setdefault(line, status)
            continue
        told[line] = status
        if buyer:
            reverse = str(item.get("reverse_order_id") or f"9{line}")
            data = {"trade_order_id": order.order_id, "trade_order_line_id": line, "reverse_order_id": reverse,
                    "reverse_order_line_id": f"{reverse}{line}", "reverse_status": "CANCEL_INIT",
                    "status_update_time": now}
            message_type = 10
        else:
            data = {"order_status": status, "trade_order_id": order.order_id, "trade_order_line_id": line,
                    "status_update_time": now}
            message_type = 0
        payload = {"seller_id": shop.ref, "message_type": message_type, "data": data, "timestamp": now * 1000,
                   "site": f"lazada_{shop.creds.get('country', 'sg')}"}
        body = _json(payload)
        signature = _hex(shop.creds.get("app_secret", ""), shop.creds.get("app_key", "").encode() + body)
        headers = {"Content-Type": "application/json", "Authorization": signature}
        messages.append(Message("lazada", shop.ref, order.order_id, kind, f"{line}:{status}:{now}", body, headers))
    return messages


def _webhook(platform: str, prefix: str, domain: str, secret_field: str, id_header: str,
             version: str) -> Callable[[Shop, Order, str, str, dict[str, str]], list[Message]]:
    def build(shop: Shop, order: Order, kind: str, callback_url: str, told: dict[str, str]) -> list[Message]:
        webhook_id = uuid.uuid4().hex[:24]
        topic = "orders/cancelled" if order.status in CANCELLED else "orders/updated"
        extra = {k: v for k, v in order.extra.items() if k in ("cancelled_at", "canceled_at", "updated_at",
                                                                   "financial_status", "fulfillment_status")}
        body = _json({"id": order.order_id, "status": order.status, **extra})
        headers = {"Content-Type": "application/json", f"{prefix}-Topic": topic,
                   f"{prefix}-Hmac-Sha256": _b64(shop.creds.get(secret_field, ""), body),
                   f"{prefix}-Shop-Domain": f"{shop.ref}{domain}", f"{prefix}-API-Version": version,
                   id_header: webhook_id}
        return [Message(platform, shop.ref, order.order_id, kind, webhook_id, body, headers)]

    return build


Builder = Callable[[Shop, Order, str, str, dict[str, str]], list[Message]]
BUILDERS: dict[str, Builder] = {
    "shopee": shopee,
    "lazada": lazada,
    "shopline": _webhook("shopline", "X-Shopline", ".myshopline.com", "app_secret", "X-Shopline-Webhook-Id",
                         "v20251201"),
    "shoplazza": _webhook("shoplazza", "X-Shoplazza", ".myshoplaza.com", "client_secret",
                          "X-Shoplazza-Deduplication-ID", "2022-01"),
}
