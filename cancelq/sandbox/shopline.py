"""SHOPLINE emulator: the Admin REST API's order read and cancel at their real paths.

``GET  /admin/openapi/{version}/orders/{id}.json``          -> ``get_order``
``POST /admin/openapi/{version}/orders/{id}/cancel.json``   -> ``cancel_order``

Checked in SHOPLINE's order, with this module's own code:
- the version looks like ``v20251201`` (else 404);
- the store is told by the ``Host`` header ``{handle}.myshopline.com`` (unknown store: 404);
- ``Authorization: Bearer <token>`` must be that store's valid token (else 401);
- a cancel must be ``Content-Type: application/json`` with a JSON object whose fields have the
  documented types (else 400, "incorrect parameter type").

Errors use the body of SHOPLINE's status-code page, ``{"errors": ...}``; every answer carries a
``traceId`` header. The 401 message is ours: SHOPLINE documents the status, not the text.

State machine (SHOPLINE documents none for cancel): an ``open`` order with no fulfilment can be
cancelled; the answer is 200 with the whole updated order (``status: canceled``, ``cancelled_at``).
A **second cancel answers 422** ("semantic error", the likeliest undocumented answer), and so does a
cancel of a fulfilled or partially fulfilled order (SHOPLINE follows Shopify, where those go through
returns). ``restock``/``email`` are recorded in ``order.extra`` (``restocked``, ``customer_emailed``).

Rate limit: the documented leaky bucket, 40 per store leaking 4/s, answered with 429 and
``Retry-After`` (only when switched on through the control API).

Token refresh (``POST /admin/oauth/token/refresh``, endpoint name "refresh_access_token"): no
refresh token; the app re-signs for the store. Headers ``appkey`` (the store's app), ``timestamp``
(ms, within 10 minutes: our window, SHOPLINE documents none) and ``sign`` = lowercase-hex
HMAC-SHA256(app_secret, raw body + timestamp), the body being empty. The answer is
``{"code":200,"i18nCode":"SUCCESS","message":"success","data":{accessToken, expireTime, scope}}`` with a
10 h token (``expireTime`` ISO-8601 with milliseconds). Secondary sources say the old token stays
valid about 5 minutes after a refresh [UNVERIFIED]: the sandbox revokes it at once, the stricter
reading. Errors use the token endpoints' shape ``{code, i18nCode, message, data: null}`` with the
HTTP status equal to ``code`` (the codes are the sandbox's guesses; SHOPLINE documents none):
400 PARAM_ERROR / TIMESTAMP_INVALID / SIGN_INVALID, 401 APP_NOT_INSTALLED (appkey not the store's app),
401 UNAUTHORIZED (the grant killed through the control API: re-authorize), 429 REQUEST_FREQUENTLY
(a refresh within the shop spec's ``refresh_cooldown_s`` of the token's minting; default 0: off).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web

from .emulator import Emulator, json_response
from .faults import Fault
from .state import Order, Shop

HOST_SUFFIX = ".myshopline.com"
TRACE_HEADER = "traceId"
RATE_LIMIT = (4.0, 40.0)
CANCELLED = frozenset({"canceled", "cancelled"})
PRIVATE_EXTRA = frozenset({"restocked", "customer_emailed"})
STATES: dict[str, tuple[str, str, str | None]] = {
    "cancellable": ("open", "paid", None),
    "in_cancel": ("open", "paid", None),  # no buyer-request state on SHOPLINE: an open order
    "packed": ("open", "paid", None),
    "cancelled": ("canceled", "paid", None),
    "shipped": ("open", "paid", "fulfilled"),
}
BODY_TYPES: dict[str, Callable[[Any], bool]] = {
    "restock": lambda v: isinstance(v, bool),
    "email": lambda v: isinstance(v, bool),
    "amount": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "cancel_reason": lambda v: isinstance(v, str),
    "currency": lambda v: isinstance(v, str),
    "processed_at": lambda v: isinstance(v, str),
    "refund_type": lambda v: isinstance(v, str),
}
_VERSION = re.compile(r"^v\d{8}$")
REFRESH_PATH = "/admin/oauth/token/refresh"
ACCESS_TOKEN_LIFETIME_S = 10 * 3600
TIMESTAMP_WINDOW_MS = 600_000
TOKEN_SCOPE = "read_orders,write_orders"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _earlier(seconds: float) -> str:
    """A time before now: a seeded order that is cancelled was cancelled before anyone asked cancelq."""
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _errors(status: int, errors: Any, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"errors": errors}, status=status, headers=headers)


def _token_error(status: int, i18n_code: str, message: str) -> web.Response:
    body = {"code": status, "i18nCode": i18n_code, "message": message, "data": None}
    return json_response(body, status=status, headers={TRACE_HEADER: uuid.uuid4().hex})


class ShoplineEmulator(Emulator):
    """SHOPLINE's order endpoints, stores told apart by Host."""

    platform = "shopline"

    def routes(self) -> list[web.RouteDef]:
        base = "/admin/openapi/{version}/orders/{order_id}"
        return [web.get(f"{base}.json", self.get_order), web.post(f"{base}/cancel.json", self.cancel_order),
                web.post(REFRESH_PATH, self.refresh_access_token)]

    # -- token refresh --------------------------------------------------------------------------------------

    async def refresh_access_token(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        shop = self._signed_store(request, raw)
        if isinstance(shop, web.Response):
            return shop
        response = await self.call(request, shop=shop, endpoint="refresh_access_token", order=None,
                                   act=partial(self._rotate, shop))
        response.headers[TRACE_HEADER] = uuid.uuid4().hex
        return response

    def _signed_store(self, request: web.Request, raw: bytes) -> Shop | web.Response:
        """The store an app signs a token call for, or the refusal."""
        host = request.host.rsplit(":", 1)[0].lower()
        shop = self.store.shops.get((self.platform, host.removesuffix(HOST_SUFFIX)))
        if not host.endswith(HOST_SUFFIX) or shop is None:
            return _token_error(404, "STORE_NOT_FOUND", "Store not found")
        appkey, timestamp, sign = (request.headers.get(h, "") for h in ("appkey", "timestamp", "sign"))
        if not (appkey and timestamp and sign):
            return _token_error(400, "PARAM_ERROR", "The headers appkey, timestamp and sign are required")
        if not shop.creds.get("app_key") or not hmac.compare_digest(appkey, shop.creds["app_key"]):
            return _token_error(401, "APP_NOT_INSTALLED", "The app is not installed in this store")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > TIMESTAMP_WINDOW_MS:
            return _token_error(400, "TIMESTAMP_INVALID", "The timestamp is invalid or expired")
        message = raw + timestamp.encode()
        expected = hmac.new(shop.creds.get("app_secret", "").encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            return _token_error(400, "SIGN_INVALID", "The sign is invalid")
        return shop

    def _rotate(self, shop: Shop) -> web.Response:
        if not shop.refresh_valid:
            return _token_error(401, "UNAUTHORIZED", "The store's authorization of this app has ended: re-authorize")
        cooldown_s = float(shop.creds.get("refresh_cooldown_s") or 0)
        if time.time() - shop.token_issued_at < cooldown_s:
            return _token_error(429, "REQUEST_FREQUENTLY", "Request too frequently, please try again later")
        token = f"eyJhbGciOiJIUzUxMiJ9.{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)}"
        shop.refreshed(access_token=token, lifetime_s=ACCESS_TOKEN_LIFETIME_S)
        expires = datetime.fromtimestamp(shop.token_expires_at or 0, UTC).isoformat(timespec="milliseconds")
        data = {"accessToken": token, "expireTime": expires, "scope": TOKEN_SCOPE}
        return json_response({"code": 200, "i18nCode": "SUCCESS", "message": "success", "data": data})

    # -- handlers -------------------------------------------------------------------------------------------

    async def get_order(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "get_order", b"")

    async def cancel_order(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "cancel_order", await request.read())

    async def _serve(self, request: web.Request, endpoint: str, raw: bytes) -> web.StreamResponse:
        shop = self._authenticate(request)
        if isinstance(shop, web.Response):
            response: web.StreamResponse = shop
        else:
            order = self._order_of(shop, request.match_info["order_id"])
            read = endpoint == "get_order"
            act = partial(self._read, order) if read else partial(self._cancel, request, raw, order)
            response = await self.call(request, shop=shop, endpoint=endpoint, order=order, act=act)
        response.headers[TRACE_HEADER] = uuid.uuid4().hex
        return response

    def _authenticate(self, request: web.Request) -> Shop | web.Response:
        """The store the request is for, or the answer that refuses it."""
        if not _VERSION.match(request.match_info["version"]):
            return _errors(404, "Not Found")
        host = request.host.rsplit(":", 1)[0].lower()
        if not host.endswith(HOST_SUFFIX):
            return _errors(404, f"unknown store host {host!r}: send Host: {{handle}}{HOST_SUFFIX}")
        shop = self.store.shops.get((self.platform, host.removesuffix(HOST_SUFFIX)))
        if shop is None:
            return _errors(404, "Store not found")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not shop.token_valid(token.strip()):
            return _errors(401, "Invalid or expired access token")
        return shop

    def _order_of(self, shop: Shop, order_id: str) -> Order | None:
        order = self.store.order(self.platform, order_id)
        return order if order is not None and order.shop == shop.ref else None

    def _read(self, order: Order | None) -> web.Response:
        if order is None:
            return _errors(404, "The order does not exist.")
        return json_response({"order": self.render(order)})

    def _cancel(self, request: web.Request, raw: bytes, order: Order | None) -> web.Response:
        if request.content_type != "application/json":
            return _errors(400, "Content-Type must be application/json")
        body, problem = _parse_body(raw)
        if problem is not None:
            return _errors(400, problem)
        if order is None:
            return _errors(404, "The order does not exist.")
        refusal = _refusal(order)
        if refusal is not None:
            order.history.append(f"cancel_order: refused ({refusal})")
            return _errors(422, refusal)
        self._apply_cancel(order, body)
        return json_response({"order": self.render(order)})

    def _apply_cancel(self, order: Order, body: dict[str, Any]) -> None:
        now = str(body.get("processed_at") or _now())
        order.status = "canceled"
        order.extra.update(cancelled_at=now, updated_at=now, cancel_reason=body.get("cancel_reason"))
        if body.get("restock"):
            order.extra["restocked"] = True
        if body.get("email"):
            order.extra["customer_emailed"] = True
        order.cancels_applied += 1
        flags = ",".join(k for k in ("restock", "email") if body.get(k)) or "-"
        order.history.append(f"cancel_order: cancelled (reason={body.get('cancel_reason')!r}, flags={flags})")

    # -- world ----------------------------------------------------------------------------------------------

    def render(self, order: Order) -> dict[str, Any]:
        """The order as SHOPLINE returns it (a realistic subset of its fields)."""
        public = {k: v for k, v in order.extra.items() if k not in PRIVATE_EXTRA}
        return {"id": order.order_id, "status": order.status, **public, "line_items": order.items}

    def new_shop(self, spec: dict[str, Any]) -> Shop:
        handle, token = str(spec.get("handle") or ""), str(spec.get("access_token") or "")
        if not handle or not token:
            raise ValueError("a shopline shop needs handle and access_token")
        keys = ("handle", "access_token", "app_key", "app_secret", "refresh_cooldown_s")
        creds = {k: str(spec[k]) for k in keys if spec.get(k)}
        return Shop(self.platform, handle, creds, rate_limit=RATE_LIMIT)

    def new_order(self, shop: Shop, order_id: str, spec: dict[str, Any]) -> Order:
        status, financial, fulfillment = STATES[str(spec.get("state", "cancellable"))]
        status = str(spec.get("status") or status)
        items = spec.get("items") or _default_items(order_id)
        created = _now()
        extra: dict[str, Any] = {
            "name": f"#{zlib.crc32(order_id.encode()) % 100000 + 1000}",
            "financial_status": spec.get("financial_status", financial),
            "fulfillment_status": spec.get("fulfillment_status", fulfillment),
            "fulfillments": [],
            "cancelled_at": _earlier(600) if status in CANCELLED else None,
            "cancel_reason": "Customer request" if status in CANCELLED else None,
            "currency": "USD",
            "current_total_price": f"{sum(float(i.get('price', 0)) * int(i.get('quantity', 1)) for i in items):.2f}",
            "created_at": created,
            "updated_at": created,
        }
        order = Order(self.platform, shop.ref, order_id, status, items, extra)
        if extra["fulfillment_status"] in ("fulfilled", "partial"):
            extra["fulfillments"] = [_fulfillment(order)]
        return order

    def cancel_elsewhere(self, order: Order) -> None:
        if order.status != "canceled":
            now = _now()
            order.status = "canceled"
            order.extra.update(cancelled_at=now, updated_at=now, cancel_reason="other")
            order.history.append("seller_center_cancel")

    def ship(self, order: Order) -> None:
        order.extra.update(fulfillment_status="fulfilled", fulfillments=[_fulfillment(order)], updated_at=_now())
        for item in order.items:
            item["fulfillment_status"] = "fulfilled"
        order.history.append("shipped")

    def render_error(self, fault: Fault) -> web.Response:
        status = fault.http_status or 500
        body: dict[str, Any] = {"errors": fault.message or _PHRASES.get(status, "Error")}
        if fault.code:
            body["code"] = fault.code
        headers = {"Retry-After": str(math.ceil(fault.retry_after_s))} if fault.retry_after_s is not None else None
        return json_response(body, status=status, headers=headers)

    def render_rate_limited(self) -> web.Response:
        return _errors(429, "Too Many Requests", headers={"Retry-After": "1"})


_PHRASES = {
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    406: "Not Acceptable", 412: "Precondition Failed", 422: "Unprocessable Entity", 423: "Locked",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def _parse_body(raw: bytes) -> tuple[dict[str, Any], Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}, "Request body is not valid JSON"
    if not isinstance(body, dict):
        return {}, "Request body must be a JSON object"
    wrong = {k: ["incorrect parameter type"] for k, ok in BODY_TYPES.items() if k in body and not ok(body[k])}
    return body, (wrong or None)


def _refusal(order: Order) -> str | None:
    if order.status in CANCELLED:
        return "The order has been cancelled and cannot be cancelled again"
    if order.extra.get("fulfillment_status") in ("fulfilled", "partial"):
        return "The order has been fulfilled and cannot be cancelled"
    if order.status != "open":
        return f"The order in status {order.status} cannot be cancelled"
    return None


def _default_items(order_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{order_id}{n}", "product_id": f"1605676155998484{n:04d}", "variant_id": f"1805676155998752{n:04d}",
            "title": f"Sandbox item {n}", "name": f"Sandbox item {n}", "sku": f"SKU-{n:03d}", "quantity": n,
            "price": "19.90", "fulfillable_quantity": n, "fulfillment_status": None, "requires_shipping": True,
        }
        for n in (1, 2)
    ]


def _fulfillment(order: Order) -> dict[str, Any]:
    return {
        "id": f"F{order.order_id}", "order_id": order.order_id, "status": "success", "shipment_status": "fulfilled",
        "tracking_company": "SF International", "tracking_number": f"SF{zlib.crc32(order.order_id.encode()):010d}",
        "line_items": [{"id": i.get("id"), "quantity": i.get("quantity")} for i in order.items],
    }
