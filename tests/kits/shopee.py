"""The Shopee test kit: the shop of platforms.md 1.2's first worked example, in the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cancelq.platforms.errors import (
    AuthExpired,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)

from . import Kit

PARTNER_ID = 2001887
PARTNER_KEY = "shpk_test_partner_key_0123456789abcdef"
SHOP_ID = 14701711
ACCESS_TOKEN = "4c7259534969484e71734d695a6e6d55"

CREDENTIALS: Mapping[str, Any] = {
    "partner_id": PARTNER_ID,
    "partner_key": PARTNER_KEY,
    "shop_id": SHOP_ID,
    "access_token": ACCESS_TOKEN,
}


def is_cancelled(view: Mapping[str, Any]) -> bool:
    return bool(view["status"] == "CANCELLED")


KIT = Kit(
    platform="shopee",
    shop_ref=str(SHOP_ID),
    shop_spec=CREDENTIALS,
    credentials=CREDENTIALS,
    secrets=(PARTNER_KEY, ACCESS_TOKEN),
    write_endpoint="cancel_order",
    error_faults=(
        ({"code": "error_server", "message": "System error. Please try again later."}, TransientError),
        ({"code": "error_network", "message": "Inner http call failed"}, TransientError),
        ({"code": "error_rate_limit"}, RateLimited),
        ({"code": "error_limit"}, QuotaExhausted),
        ({"code": "error_auth", "message": "Invalid access_token."}, AuthExpired),
        ({"code": "error_auth", "message": "Invalid partner_id or shopid."}, ReauthRequired),
        ({"code": "error_param", "message": "You can not cancel warehouse order."}, PermanentError),
    ),
    is_cancelled=is_cancelled,
)
