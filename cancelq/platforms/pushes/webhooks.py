"""SHOPLINE's and Shoplazza's webhooks (platforms.md 3.5, 4.5): Shopify-shaped, told apart by their header prefix.

Both sign the raw body: ``X-…-Hmac-Sha256`` = base64 HMAC-SHA256(app secret, raw body). Shoplazza documents the
base64; for SHOPLINE the overview names HMAC-SHA256 of the body with the app secret and its own example value
(``XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=``) is base64 of 32 bytes, so base64 is what we check. The identity is
the platform's webhook id header (kept when a webhook is resent), the shop is the domain header's subdomain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .base import Headers, Push, Unparseable, epoch_ms, hmac_base64, json_object, same, text_field

ORDER_TOPICS = frozenset({"orders/cancelled", "orders/updated"})


def signature(secret: str, body: bytes) -> str:
    return hmac_base64(secret, body)


class _Webhooks:
    platform: ClassVar[str]
    prefix: ClassVar[str]
    """The headers' prefix, lowercased (``x-shopline-``)."""
    domain_suffix: ClassVar[str]
    secret_field: ClassVar[str]
    id_header: ClassVar[str]
    signature_header: ClassVar[str]
    signs_callback_url: ClassVar[bool] = False

    def shop_ref(self, headers: Headers, body: bytes) -> str:
        domain = headers.get(self.prefix + "shop-domain", "").strip().lower()
        handle = domain.removesuffix(self.domain_suffix)
        if not handle or "." in handle or "/" in handle or len(handle) > 100:
            raise Unparseable(f"the {self.prefix}shop-domain header is not a {self.domain_suffix} store")
        return handle

    def secret_problem(self, credentials: Mapping[str, Any]) -> str | None:
        return None if credentials.get(self.secret_field) else f"the shop's credentials have no {self.secret_field}"

    def verify(self, credentials: Mapping[str, Any], headers: Headers, body: bytes, *, callback_url: str) -> bool:
        expected = signature(str(credentials.get(self.secret_field, "")), body)
        return same(expected, headers.get(self.signature_header))

    def parse(self, headers: Headers, body: bytes) -> Push | None:
        message_id = headers.get(self.id_header, "").strip()
        if not message_id:
            raise Unparseable(f"the {self.id_header} header is missing")
        topic = headers.get(self.prefix + "topic", "").strip().lower()
        payload = json_object(body)
        if topic not in ORDER_TOPICS:
            return None
        inner = payload.get("order")
        order: dict[str, Any] = inner if isinstance(inner, dict) else payload
        status = str(order.get("status") or ("cancelled" if topic == "orders/cancelled" else ""))
        if not status:
            raise Unparseable("the order has no status")
        when = order.get("cancelled_at") or order.get("canceled_at") or order.get("updated_at")
        return Push(platform=self.platform, shop_ref=self.shop_ref(headers, body),
                    order_id=text_field(order, "id", where="the order"), status=status[:100],
                    message_id=message_id[:200], pushed_at_ms=epoch_ms(when))


class ShoplinePushes(_Webhooks):
    platform: ClassVar[str] = "shopline"
    prefix: ClassVar[str] = "x-shopline-"
    domain_suffix: ClassVar[str] = ".myshopline.com"
    secret_field: ClassVar[str] = "app_secret"
    id_header: ClassVar[str] = "x-shopline-webhook-id"
    signature_header: ClassVar[str] = "x-shopline-hmac-sha256"


class ShoplazzaPushes(_Webhooks):
    platform: ClassVar[str] = "shoplazza"
    prefix: ClassVar[str] = "x-shoplazza-"
    domain_suffix: ClassVar[str] = ".myshoplaza.com"
    secret_field: ClassVar[str] = "client_secret"
    id_header: ClassVar[str] = "x-shoplazza-deduplication-id"
    signature_header: ClassVar[str] = "x-shoplazza-hmac-sha256"
