"""Shopee Open Platform v2: cancel an order, or accept the buyer's own cancellation request.

``adapter`` runs the flow, ``classify`` maps error answers, ``signing`` signs requests.
"""

from __future__ import annotations

from .adapter import (
    BUYER_CANCEL_PATH,
    CANCEL_PATH,
    CANCELLABLE_STATUSES,
    DEFAULT_BASE_URL,
    DETAIL_PATH,
    ShopeeAdapter,
    ShopeeCredentials,
    order_state,
)
from .classify import PLATFORM, QUOTA_TZ, REAUTH_NAMES, classify, next_quota_reset, normalise_code
from .signing import base_string, sign

__all__ = [
    "BUYER_CANCEL_PATH", "CANCELLABLE_STATUSES", "CANCEL_PATH", "DEFAULT_BASE_URL", "DETAIL_PATH", "PLATFORM",
    "QUOTA_TZ", "REAUTH_NAMES", "ShopeeAdapter", "ShopeeCredentials", "base_string", "classify", "next_quota_reset",
    "normalise_code", "order_state", "sign",
]
