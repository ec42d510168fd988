"""Shoplazza kit for the contract suite: a store told apart by Host, Access-Token header, 2022-01 bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cancelq.platforms.errors import AuthExpired, ConfigError, PermanentError, RateLimited, TransientError

from . import Kit

SHOP = "kit-store"
ACCESS_TOKEN = "kit-shoplazza-access-token-7f3a9c2e51b84d06"
CLIENT_ID = "kit_shoplazza_client_id"
CLIENT_SECRET = "kit_shoplazza_client_secret_0123456789abcdef"


def _is_cancelled(view: Mapping[str, Any]) -> bool:
    return bool(view["status"] == "cancelled")


KIT = Kit(
    platform="shoplazza",
    shop_ref=SHOP,
    shop_spec={"shop": SHOP, "access_token": ACCESS_TOKEN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    credentials={
        "shop": SHOP, "access_token": ACCESS_TOKEN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "api_version": "2022-01",
    },
    secrets=(ACCESS_TOKEN, CLIENT_SECRET),
    write_endpoint="cancel_order",
    error_faults=(
        ({"http_status": 429, "retry_after_s": 2}, RateLimited),
        ({"http_status": 401}, AuthExpired),
        ({"http_status": 500}, TransientError),
        ({"http_status": 403}, PermanentError),
        ({"http_status": 406}, PermanentError),
        ({"http_status": 403, "code": "error", "message": "store is not active"}, ConfigError),
    ),
    is_cancelled=_is_cancelled,
)
