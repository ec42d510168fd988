"""``v2.push.get_lost_push_message`` and ``v2.push.confirm_consumed_lost_push_message``: the pushes the sandbox
failed to deliver (every attempt, ``sandbox.pushes``), as Shopee lists them.

Either signing is taken: a Shop API call's (access_token and shop_id, as the SDKs send it) or, without them, the
Public API's (partner_id + path + timestamp); the messages are the partner's (the app's), whichever shop signed.
The list answers the earliest 100 lost in the last 3 days and not confirmed, for the partner's shops:
``push_message_list`` of ``{shop_id, code, timestamp, data}`` (``data`` the push's JSON text, as Shopee gives
it), ``has_next_page`` and ``last_message_id``; confirming ``last_message_id`` consumes every message up to it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from ..emulator import json_response
from ..state import Store
from .answers import Rejected, error_response
from .signing import authenticate, authenticate_public

GET_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
PAGE = 100
KEPT_S = 3 * 86400


def _partner(store: Store, request: web.Request) -> str:
    if request.query.get("access_token"):
        return authenticate(store, request).creds["partner_id"]
    return authenticate_public(store, request)


def _partner_shops(store: Store, partner_id: str) -> set[int]:
    return {int(s.ref) for s in store.shops.values() if s.platform == "shopee" and s.creds["partner_id"] == partner_id}


def _waiting(store: Store, partner_id: str) -> list[dict[str, Any]]:
    shops, since = _partner_shops(store, partner_id), time.time() - KEPT_S
    return [m for m in store.lost_pushes if not m["consumed"] and m["shop_id"] in shops and m["timestamp"] >= since]


async def get_lost(store: Store, request: web.Request) -> web.Response:
    try:
        partner_id = _partner(store, request)
    except Rejected as exc:
        return error_response(exc.code, exc.message)
    waiting = _waiting(store, partner_id)
    page = waiting[:PAGE]
    listed = [{"shop_id": m["shop_id"], "code": m["code"], "timestamp": m["timestamp"],
               "data": m["body"].decode()} for m in page]
    response = {"push_message_list": listed, "has_next_page": len(waiting) > PAGE,
                "last_message_id": page[-1]["id"] if page else 0}
    return json_response({"error": "", "message": "", "request_id": uuid.uuid4().hex, "response": response})


async def confirm(store: Store, request: web.Request) -> web.Response:
    try:
        partner_id = _partner(store, request)
        body = json.loads(await request.read() or b"{}")
    except Rejected as exc:
        return error_response(exc.code, exc.message)
    except ValueError:
        return error_response("error_param", "Wrong parameters, detail: the body is not valid JSON.")
    last = body.get("last_message_id") if isinstance(body, dict) else None
    if not isinstance(last, int) or isinstance(last, bool) or last <= 0:
        return error_response("error_param", "Wrong parameters, detail: last_message_id is a required field.")
    for message in _waiting(store, partner_id):
        if message["id"] <= last:
            message["consumed"] = True
    return json_response({"error": "", "message": "", "request_id": uuid.uuid4().hex})
