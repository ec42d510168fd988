"""Lazada's trade-order (message_type 0) and reverse-order (10) pushes, platforms.md 2.7.

``Authorization`` = lowercase-hex HMAC-SHA256(app_secret, app_key + raw body). Lazada sends no message id: the
identity is a digest of (seller_id, message_type, the order line, status, status_update_time), so a retried push
is the same message and a later change of the same line is a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .base import Headers, Push, Unparseable, digest, epoch_ms, hmac_hex, json_object, same, text_field

TRADE_ORDER, REVERSE_ORDER = 0, 10
BUYER_REQUEST_STATUS = "CANCEL_INIT"


def signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac_hex(app_secret, app_key.encode() + body)


class LazadaPushes:
    platform: ClassVar[str] = "lazada"
    signature_header: ClassVar[str] = "authorization"
    signs_callback_url: ClassVar[bool] = False

    def shop_ref(self, headers: Headers, body: bytes) -> str:
        return text_field(json_object(body), "seller_id")

    def secret_problem(self, credentials: Mapping[str, Any]) -> str | None:
        missing = [k for k in ("app_key", "app_secret") if not credentials.get(k)]
        return f"the shop's credentials have no {' or '.join(missing)}" if missing else None

    def verify(self, credentials: Mapping[str, Any], headers: Headers, body: bytes, *, callback_url: str) -> bool:
        expected = signature(str(credentials.get("app_key", "")), str(credentials.get("app_secret", "")), body)
        return same(expected, headers.get(self.signature_header))

    def parse(self, headers: Headers, body: bytes) -> Push | None:
        payload = json_object(body)
        kind = payload.get("message_type")
        if kind not in (TRADE_ORDER, REVERSE_ORDER):
            return None
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Unparseable(f"a message_type {kind} push has no data object")
        seller = text_field(payload, "seller_id")
        line_field = "trade_order_line_id" if kind == TRADE_ORDER else "reverse_order_line_id"
        line = text_field(data, line_field, where="data")
        status = _status(data)
        updated = data.get("status_update_time", "")
        buyer = status.upper() == BUYER_REQUEST_STATUS or data.get("need_cancel_confirm") is True
        return Push(platform=self.platform, shop_ref=seller, order_id=text_field(data, "trade_order_id", where="data"),
                    status=status, message_id=digest(seller, kind, line, status, updated),
                    pushed_at_ms=epoch_ms(updated or payload.get("timestamp")), buyer_request=buyer)


def _status(data: Mapping[str, Any]) -> str:
    for name in ("order_status", "reverse_status"):
        if isinstance(data.get(name), str) and data[name]:
            return str(data[name])[:100]
    raise Unparseable("data has no order_status or reverse_status")
