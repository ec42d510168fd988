"""Shopee's order status push (code 3), platforms.md 1.7.

``Authorization`` = lowercase-hex HMAC-SHA256(partner_key, callback_url + "|" + raw body), where the callback URL is
the one registered with Shopee (ours: ``{push_public_url}/pushes/shopee``), never rebuilt from the request's Host.
The message identity is ``msg_id`` when the push has one, else a digest of the whole body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from .base import Headers, Push, Unparseable, epoch_ms, hmac_hex, json_object, same, text_field

ORDER_STATUS_CODE = 3
BUYER_REQUEST_STATUS = "IN_CANCEL"


def signature(partner_key: str, callback_url: str, body: bytes) -> str:
    return hmac_hex(partner_key, callback_url.encode() + b"|" + body)


class ShopeePushes:
    platform: ClassVar[str] = "shopee"
    signature_header: ClassVar[str] = "authorization"
    signs_callback_url: ClassVar[bool] = True

    def shop_ref(self, headers: Headers, body: bytes) -> str:
        payload = json_object(body)
        if "shop_id" not in payload and payload.get("code") != ORDER_STATUS_CODE:
            return ""  # a partner-level push (authorisation, deauthorisation...): no shop, the app's key
        return text_field(payload, "shop_id")

    def secret_problem(self, credentials: Mapping[str, Any]) -> str | None:
        return None if credentials.get("partner_key") else "the shop's credentials have no partner_key"

    def verify(self, credentials: Mapping[str, Any], headers: Headers, body: bytes, *, callback_url: str) -> bool:
        expected = signature(str(credentials.get("partner_key", "")), callback_url, body)
        return same(expected, headers.get(self.signature_header))

    def parse(self, headers: Headers, body: bytes) -> Push | None:
        payload = json_object(body)
        if payload.get("code") != ORDER_STATUS_CODE:
            return None
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Unparseable("an order status push (code 3) has no data object")
        status = text_field(data, "status", where="data")
        message_id = str(payload.get("msg_id") or "") or hashlib.sha256(body).hexdigest()[:32]
        return Push(platform=self.platform, shop_ref=text_field(payload, "shop_id"),
                    order_id=text_field(data, "ordersn", where="data"), status=status, message_id=message_id[:200],
                    pushed_at_ms=epoch_ms(data.get("update_time") or payload.get("timestamp")),
                    buyer_request=status == BUYER_REQUEST_STATUS)
