"""Shopee's answer shapes: ``{"error","message","request_id","response"}``, and the HTTP status of each error."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from ..emulator import json_response

NOT_FOUND = "The information you queried is not found."
DEFAULT_MESSAGES = {
    "error_server": "System error. Please try again later.",
    "error_network": "Inner http call failed",
    "error_rate_limit": "Too many requests. You have reached the rate limit. Please try again later.",
    "error_limit": "The total API call number made by your APP has reached the daily API call limit, "
                   "please try again after 00:00 (UTC+08:00)",
    "error_auth": "Invalid access_token.",
    "order.error_limit": "Can not cancel this order.",
    "error_shop_refresh_token": "Your refresh token is error ,please check refresh token or shopid.",
    "refresh_token_expired": "Your refresh_token expired.",
    "shop_access_expired": "Your access to shop has expired.",
    "shop_no_linked": "Partner and shop has no linked.",
}
HTTP_STATUS = {"error_auth": 403, "error_sign": 403, "error_permission": 403, "error_rate_limit": 429,
               "error_limit": 429, "error_server": 500, "error_network": 500, "error_not_found": 404}


class Rejected(Exception):
    """A Shopee error answer, raised by the checks and rendered once."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(code: str, message: str, http_status: int | None = None) -> web.Response:
    module, _, name = "".join(code.split()).rpartition(".")
    status = http_status or (HTTP_STATUS.get(name, 400) if module in ("", "common") else 400)
    return json_response({"error": code, "message": message, "request_id": uuid.uuid4().hex}, status=status)


def ok_response(response: Mapping[str, Any]) -> web.Response:
    return json_response({"error": "", "message": "", "request_id": uuid.uuid4().hex, "response": response})


def answer(work: Callable[[], Mapping[str, Any]]) -> web.Response:
    """``work``'s result as a success, or the ``Rejected`` it raised as an error answer."""
    try:
        return ok_response(work())
    except Rejected as exc:
        return error_response(exc.code, exc.message)
