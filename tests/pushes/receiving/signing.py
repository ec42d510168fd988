"""Pushes signed in the tests themselves (plain hmac, nothing of cancelq's), for cases the vectors do not cover."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.pushes.receiving.conftest import PUBLIC_URL


def shopee_push(kit: Any, order_id: str, status: str, *, msg_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    payload: dict[str, Any] = {"data": {"ordersn": order_id, "status": status, "update_time": int(time.time())},
                               "shop_id": int(kit.shop_ref), "code": 3, "timestamp": int(time.time())}
    if msg_id:
        payload["msg_id"] = msg_id
    body = json.dumps(payload).encode()
    return body, shopee_signed(kit, body)


def shopee_signed(kit: Any, body: bytes) -> dict[str, str]:
    """The headers of a Shopee push of ``body`` to the tests' public URL, signed with the kit's partner key."""
    key = str(kit.credentials["partner_key"]).encode()
    signature = hmac.new(key, f"{PUBLIC_URL}/pushes/shopee|".encode() + body, hashlib.sha256).hexdigest()
    return {"Authorization": signature, "Content-Type": "application/json"}
