"""Lazada Open Platform (LazOP): cancel by order item, through validate then create.

``adapter`` runs the flow, ``classify`` maps error answers, ``signing`` signs
requests as the official SDK does, ``items`` reads an order's items.
"""

from __future__ import annotations

from .adapter import API_PATHS, GATEWAY_HOSTS, GATEWAY_PREFIX, PLAN, LazadaAdapter, LazadaCredentials
from .classify import PLATFORM, ban_seconds, classify, normalise_code
from .items import CANCELED, CANCELLABLE_STATUSES
from .signing import item_id_list, sign, signed_params

__all__ = [
    "API_PATHS", "CANCELED", "CANCELLABLE_STATUSES", "GATEWAY_HOSTS", "GATEWAY_PREFIX", "PLAN", "PLATFORM",
    "LazadaAdapter", "LazadaCredentials", "ban_seconds", "classify", "item_id_list", "normalise_code", "sign",
    "signed_params",
]
