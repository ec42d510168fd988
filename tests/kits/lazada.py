"""Lazada in the contract suite: one Singapore seller of one app; the write is InitReverseOrderCancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cancelq.platforms.errors import AuthExpired, ConfigError, PermanentError, RateLimited, TransientError

from . import Kit

APP_KEY = "100132"
APP_SECRET = "lazada_test_app_secret_XYZ"
ACCESS_TOKEN = "50000600c10sandboxLazadaAccessToken7d1e"
SELLER_ID = "200001"


def is_cancelled(view: Mapping[str, Any]) -> bool:
    items = view.get("items") or []
    return bool(items) and all(item["status"] == "canceled" for item in items)


KIT = Kit(
    platform="lazada",
    shop_ref=SELLER_ID,
    shop_spec={
        "app_key": APP_KEY, "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN,
        "country": "sg", "seller_id": SELLER_ID,
    },
    credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN, "country": "sg"},
    secrets=(APP_SECRET, ACCESS_TOKEN),
    write_endpoint="InitReverseOrderCancel",
    error_faults=(
        ({"code": "ApiCallLimit", "ban_s": 2}, RateLimited),
        ({"code": "IllegalAccessToken"}, AuthExpired),
        ({"code": "6"}, TransientError),
        ({"code": "106"}, TransientError),
        ({"code": "IncompleteSignature"}, ConfigError),
        ({"code": "104"}, PermanentError),
    ),
    is_cancelled=is_cancelled,
)
