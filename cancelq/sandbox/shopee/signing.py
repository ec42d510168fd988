"""The gateway's own checks (nothing from ``cancelq.platforms``): common parameters, timestamp, HMAC sign."""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web

from ..state import Shop, Store
from .answers import Rejected

PLATFORM = "shopee"
TIMESTAMP_WINDOW_S = 300
MISSING = {
    "partner_id": "There is no partner_id in query.", "timestamp": "There is no timestamp in query.",
    "sign": "There is no sign in query.", "access_token": "There is no access_token in query.",
    "shop_id": "There is no shop_id in query.",
}


def shop_sign(partner_key: str, text: str) -> str:
    return hmac.new(partner_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authenticate_public(store: Store, request: web.Request) -> str:
    """A Public API call (auth/*): partner_id, timestamp and a sign without token or shop; the partner_id."""
    query = request.query
    for name in ("partner_id", "timestamp", "sign"):
        if not query.get(name):
            raise Rejected("error_param", MISSING[name])
    partner_id = query["partner_id"]
    key = partner_key(store, partner_id, None)
    check_timestamp(query["timestamp"])
    expected = shop_sign(key, f"{partner_id}{request.path}{query['timestamp']}")
    if not hmac.compare_digest(expected, query["sign"]):
        raise Rejected("error_sign", "Wrong sign.")
    return partner_id


def authenticate(store: Store, request: web.Request) -> Shop:
    """A Shop API call: the shop it is signed for, with a valid access token."""
    query = request.query
    for name in ("partner_id", "timestamp", "sign", "access_token", "shop_id"):
        if not query.get(name):
            raise Rejected("error_param", MISSING[name])
    partner_id, shop_id, token = query["partner_id"], query["shop_id"], query["access_token"]
    shop = store.shops.get((PLATFORM, shop_id))
    key = partner_key(store, partner_id, shop)
    check_timestamp(query["timestamp"])
    expected = shop_sign(key, f"{partner_id}{request.path}{query['timestamp']}{token}{shop_id}")
    if not hmac.compare_digest(expected, query["sign"]):
        raise Rejected("error_sign", "Wrong sign.")
    if shop is None or shop.creds["partner_id"] != partner_id:
        raise Rejected("error_auth", "Invalid partner_id or shopid.")
    if not shop.token_valid(token):
        raise Rejected("error_auth", "Invalid access_token.")
    return shop


def partner_key(store: Store, partner_id: str, shop: Shop | None) -> str:
    if shop is not None and shop.creds["partner_id"] == partner_id:
        return shop.creds["partner_key"]
    for other in store.shops.values():
        if other.platform == PLATFORM and other.creds["partner_id"] == partner_id:
            return other.creds["partner_key"]
    raise Rejected("error_param", "Invalid partner_id.")


def check_timestamp(raw: str) -> None:
    try:
        timestamp = int(raw)
    except ValueError:
        raise Rejected("error_param", "Invalid timestamp") from None
    drift_s = time.time() - timestamp
    if drift_s > TIMESTAMP_WINDOW_S:
        raise Rejected("error_param", "Timestamp is expired.")
    if drift_s < -TIMESTAMP_WINDOW_S:
        raise Rejected("error_param", "Invalid timestamp")
