"""SHOPLINE kit for the contract suite: a store told apart by Host, Bearer token, traceId request ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cancelq.platforms.errors import AuthExpired, PermanentError, RateLimited, TransientError

from . import Kit

HANDLE = "kit-store"
ACCESS_TOKEN = "eyJhbGciOiJIUzUxMiJ9.kit-shopline-access-token.c2lnbmF0dXJl"
APP_KEY = "f2379d21628c33d11db1fdb697a3f7c26e4c0a09"
APP_SECRET = "kit_shopline_app_secret_0123456789abcdef"


def _is_cancelled(view: Mapping[str, Any]) -> bool:
    return view["status"] in ("canceled", "cancelled")


KIT = Kit(
    platform="shopline",
    shop_ref=HANDLE,
    shop_spec={"handle": HANDLE, "access_token": ACCESS_TOKEN, "app_key": APP_KEY, "app_secret": APP_SECRET},
    credentials={
        "handle": HANDLE, "access_token": ACCESS_TOKEN, "app_key": APP_KEY, "app_secret": APP_SECRET,
        "api_version": "v20251201",
    },
    secrets=(ACCESS_TOKEN, APP_SECRET),
    write_endpoint="cancel_order",
    error_faults=(
        ({"http_status": 429, "retry_after_s": 2}, RateLimited),
        ({"http_status": 401}, AuthExpired),
        ({"http_status": 503}, TransientError),
        ({"http_status": 403}, PermanentError),
        ({"http_status": 423}, TransientError),
    ),
    is_cancelled=_is_cancelled,
    order_options={"restock": True},
)
