"""Shopee Open Platform v2 request signing: lowercase-hex HMAC-SHA256 of a base string, keyed with the partner_key."""

from __future__ import annotations

import hashlib
import hmac


def base_string(
    *, partner_id: int, path: str, timestamp: int, access_token: str = "", shop_id: int | None = None
) -> str:
    """The string Shopee signs: Shop API with ``access_token`` and ``shop_id``, Public API without."""
    tail = f"{access_token}{shop_id}" if shop_id is not None else ""
    return f"{partner_id}{path}{timestamp}{tail}"


def sign(partner_key: str, base: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``base`` keyed with the partner_key string as given (not hex-decoded)."""
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()
