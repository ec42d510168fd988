"""The platforms' pushes, pure: per platform, who a push claims to be for, its signature check, its parse.

No Redis, no settings: the receiver (``cancelq.api.routes_pushes``) hands in the headers, the raw body, the
shop's credentials and the configured callback URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Headers, Push, PushFormat, Unparseable
from .lazada import LazadaPushes
from .shopee import ShopeePushes
from .webhooks import ShoplazzaPushes, ShoplinePushes

FORMATS: dict[str, PushFormat] = {
    "shopee": ShopeePushes(), "lazada": LazadaPushes(), "shopline": ShoplinePushes(), "shoplazza": ShoplazzaPushes(),
}

REF_FIELDS = {"shopee": "shop_id", "lazada": "seller_id", "shopline": "handle", "shoplazza": "shop"}
"""The credential that holds the platform's id of the shop, as pushes name it."""


def push_ref(platform: str, credentials: Mapping[str, Any]) -> str | None:
    """The id a platform's pushes give a shop with these credentials (None: they give none we can match)."""
    name = REF_FIELDS.get(platform)
    value = credentials.get(name) if name else None
    if value is None or value == "":
        return None
    return str(value).strip().lower() if platform in ("shopline", "shoplazza") else str(value).strip()


__all__ = ["FORMATS", "REF_FIELDS", "Headers", "Push", "PushFormat", "Unparseable", "push_ref"]
