"""Shoplazza emulator: the OpenAPI's order read and cancel at their real paths, in two body generations.

``GET  /openapi/{version}/orders/{id}``          -> ``get_order``
``POST /openapi/{version}/orders/{id}/cancel``   -> ``cancel_order``

Versions 2022-01, 2025-06, 2026-01 and 2026-07 are served (others: 404). Before 2025-06 a
success is ``{"order": {...}}`` and an error ``{"errors": [...]}`` or ``{"error": "..."}``; from
2025-06 on everything is the envelope ``{"code": "success", "message", "data": order}`` and errors
``{"code": "InvalidParameter", "message"}`` (codes other than InvalidParameter are our guesses).

Checked with this module's own code:
- the store is told by the ``Host`` header ``{shop}.myshoplaza.com`` (unknown store: 404);
- a shop seeded with ``active: false`` answers ``{"error": "store is not active"}`` (403; the status is a guess);
- ``Access-Token`` must be that store's valid token, else 401
  ``{"errors": ["[API] Invalid API key or access token (unrecognized login or wrong password)"]}``;
- a cancel body, when present, must be ``Content-Type: application/json`` holding a JSON object whose
  ``reason`` is a string (else 400).

State machine (undocumented by Shoplazza): ``opened``/``placed`` orders can be cancelled unless fully
shipped/finished/returning/returned; ``partially_shipped`` can, as the doc's own sample shows. The answer
is 200 with the whole updated order (``status: cancelled``, ``canceled_at``, ``cancel_reason``). A
**second cancel answers 406** (the status page's "cannot produce a response that matches... e.g. refund an
order which is not in after-sale status", our reading of the state-conflict answer), as does a cancel of
a shipped or finished order.

Every answer carries an ``X-Request-Id`` header (Shoplazza documents no request id header).
Rate limit: 2 requests/s with a bucket of 40 per app and store, 429 with ``Retry-After`` when switched on.

Token refresh (``POST /admin/oauth/token``, form ``grant_type=refresh_token&refresh_token&client_id&
client_secret``; endpoint name "refresh_access_token"): the store is told by Host; a wrong client
answers 401 ``{"error":"invalid_client"}``, another grant_type 400 ``unsupported_grant_type`` (the
sandbox serves no code exchange), a missing parameter 400 ``invalid_request``. The refresh token must be
the store's current one, else (spent, unknown, or killed through the control API) 400
``{"error":"invalid_grant","error_description":...}``, the standard OAuth answer (Shoplazza documents
none). A refresh answers ``{token_type, expires_at (unix s), access_token, refresh_token, store_id,
store_name}`` with a new pair; the old access and refresh tokens stop working at once. Lifetimes are
undocumented: the sandbox gives 24 h. A store seeded without ``refresh_token`` gets
``state.default_refresh_token("shoplazza", shop)``.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web

from .emulator import Emulator, json_response
from .faults import Fault
from .state import Order, Shop, Store, default_refresh_token

TOKEN_PATH = "/admin/oauth/token"
ACCESS_TOKEN_LIFETIME_S = 24 * 3600
INVALID_GRANT = "The provided authorization grant is invalid, expired, revoked or was issued to another client."
HOST_SUFFIX = ".myshoplaza.com"
REQUEST_ID_HEADER = "X-Request-Id"
RATE_LIMIT = (2.0, 40.0)
VERSIONS = frozenset({"2022-01", "2025-06", "2026-01", "2026-07"})
FIRST_VERSION = "2022-01"
"""The oldest body generation: the OAuth endpoint and unknown versions answer in its shapes."""
ENVELOPE_SINCE = "2025-06"
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
NOT_FOUND = "Unable to find resource"
STOPPED_FULFILLMENTS = frozenset({"shipped", "finished", "returning", "returned"})
STATES: dict[str, tuple[str, str, str]] = {
    "cancellable": ("placed", "paid", "waiting"),
    "in_cancel": ("placed", "paid", "waiting"),  # no buyer-request state on Shoplazza: a placed order
    "packed": ("placed", "paid", "waiting"),
    "cancelled": ("cancelled", "paid", "cancelled"),
    "shipped": ("placed", "paid", "shipped"),
}
ENVELOPE_CODES = {
    400: "InvalidParameter", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 422: "InvalidParameter", 429: "TooManyRequests", 500: "InternalError",
}
PHRASES = {
    400: "Bad Request", 401: UNAUTHORIZED, 403: "Forbidden", 404: NOT_FOUND, 405: "Method Not Allowed",
    406: "Not Acceptable", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
}

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _earlier(seconds: float) -> str:
    """A time before now: a seeded order that is cancelled was cancelled before anyone asked cancelq."""
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _enveloped(version: str) -> bool:
    return version >= ENVELOPE_SINCE


def _error(version: str, status: int, message: str, *, single: bool = False,
           headers: dict[str, str] | None = None) -> web.Response:
    """An error in ``version``'s shape; ``single`` picks 2022-01's ``{"error": ...}`` form."""
    if _enveloped(version):
        body: dict[str, Any] = {"code": ENVELOPE_CODES.get(status, "InternalError"), "message": message}
    else:
        body = {"error": message} if single else {"errors": [message]}
    return json_response(body, status=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status=status)


def _success(version: str, order: dict[str, Any]) -> web.Response:
    if _enveloped(version):
        return json_response({"code": "success", "message": "success", "data": order})
    return json_response({"order": order})


class ShoplazzaEmulator(Emulator):
    """Shoplazza's order endpoints, stores told apart by Host, answering in one API version's shapes.

    The instance the app registers speaks ``FIRST_VERSION`` and hands each request to the instance of
    the version in its path (same store), so that what the base class renders without a request (a
    scripted error, a rate limit) is in that version's shape too.
    """

    platform = "shoplazza"

    def __init__(self, store: Store, *, version: str = FIRST_VERSION) -> None:
        super().__init__(store)
        self.version = version
        self._speakers: dict[str, ShoplazzaEmulator] = {version: self}

    def speaking(self, version: str) -> ShoplazzaEmulator:
        """The emulator answering in ``version``'s shapes."""
        if version not in self._speakers:
            self._speakers[version] = ShoplazzaEmulator(self.store, version=version)
        return self._speakers[version]

    def routes(self) -> list[web.RouteDef]:
        base = "/openapi/{version}/orders/{order_id}"
        return [web.get(base, self.get_order), web.post(f"{base}/cancel", self.cancel_order),
                web.post(TOKEN_PATH, self.refresh_access_token)]

    # -- token refresh --------------------------------------------------------------------------------------

    async def refresh_access_token(self, request: web.Request) -> web.StreamResponse:
        return await self.speaking(FIRST_VERSION)._refresh(request)

    async def _refresh(self, request: web.Request) -> web.StreamResponse:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        shop = self._oauth_client(request, form)
        if isinstance(shop, web.Response):
            response: web.StreamResponse = shop
        else:
            response = await self.call(request, shop=shop, endpoint="refresh_access_token", order=None,
                                       act=partial(self._rotate, shop, form["refresh_token"]))
        response.headers[REQUEST_ID_HEADER] = uuid.uuid4().hex
        return response

    def _oauth_client(self, request: web.Request, form: dict[str, str]) -> Shop | web.Response:
        """The store whose app authenticates itself for a refresh, or the OAuth refusal."""
        host = request.host.rsplit(":", 1)[0].lower()
        shop = self.store.shops.get((self.platform, host.removesuffix(HOST_SUFFIX)))
        if not host.endswith(HOST_SUFFIX) or shop is None:
            return _error(self.version, 404, NOT_FOUND, single=True)
        missing = [k for k in ("grant_type", "refresh_token", "client_id", "client_secret") if not form.get(k)]
        if form.get("grant_type") not in (None, "", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", "The sandbox only serves grant_type=refresh_token.")
        if missing:
            return _oauth_error(400, "invalid_request", f"Missing parameters: {', '.join(missing)}.")
        client_ok = (hmac.compare_digest(form["client_id"], shop.creds.get("client_id", ""))
                     and hmac.compare_digest(form["client_secret"], shop.creds.get("client_secret", "")))
        if not client_ok:
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        return shop

    def _rotate(self, shop: Shop, refresh_token: str) -> web.Response:
        if not shop.refresh_valid or not hmac.compare_digest(refresh_token, shop.creds["refresh_token"]):
            return _oauth_error(400, "invalid_grant", INVALID_GRANT)
        shop.refreshed(access_token=secrets.token_urlsafe(32), refresh_token=secrets.token_urlsafe(32),
                       lifetime_s=ACCESS_TOKEN_LIFETIME_S)
        return json_response({
            "token_type": "Bearer", "expires_at": int(shop.token_expires_at or 0),
            "access_token": shop.creds["access_token"], "refresh_token": shop.creds["refresh_token"],
            "store_id": zlib.crc32(shop.ref.encode()) % 1_000_000, "store_name": shop.ref,
        })

    # -- handlers -------------------------------------------------------------------------------------------

    async def get_order(self, request: web.Request) -> web.StreamResponse:
        return await self._dispatch(request, "get_order", b"")

    async def cancel_order(self, request: web.Request) -> web.StreamResponse:
        return await self._dispatch(request, "cancel_order", await request.read())

    async def _dispatch(self, request: web.Request, endpoint: str, raw: bytes) -> web.StreamResponse:
        version = request.match_info["version"]
        speaker = self.speaking(version if version in VERSIONS else FIRST_VERSION)
        return await speaker._serve(request, endpoint, raw)

    async def _serve(self, request: web.Request, endpoint: str, raw: bytes) -> web.StreamResponse:
        shop = self._authenticate(request, request.match_info["version"])
        if isinstance(shop, web.Response):
            response: web.StreamResponse = shop
        else:
            order = self._order_of(shop, request.match_info["order_id"])
            read = endpoint == "get_order"
            act = partial(self._read, order) if read else partial(self._cancel, request, raw, order)
            response = await self.call(request, shop=shop, endpoint=endpoint, order=order, act=act)
        response.headers[REQUEST_ID_HEADER] = uuid.uuid4().hex
        return response

    def _authenticate(self, request: web.Request, version: str) -> Shop | web.Response:
        """The store the request is for, or the answer that refuses it."""
        if version not in VERSIONS:
            return _error(self.version, 404, NOT_FOUND, single=True)
        host = request.host.rsplit(":", 1)[0].lower()
        if not host.endswith(HOST_SUFFIX):
            return _error(self.version, 404, f"unknown store host {host!r}: send Host: {{shop}}{HOST_SUFFIX}",
                          single=True)
        shop = self.store.shops.get((self.platform, host.removesuffix(HOST_SUFFIX)))
        if shop is None:
            return _error(self.version, 404, NOT_FOUND, single=True)
        if shop.creds.get("active") == "false":
            return _error(self.version, 403, "store is not active", single=True)
        if not shop.token_valid(request.headers.get("Access-Token")):
            return _error(self.version, 401, UNAUTHORIZED)
        return shop

    def _order_of(self, shop: Shop, order_id: str) -> Order | None:
        order = self.store.order(self.platform, order_id)
        return order if order is not None and order.shop == shop.ref else None

    def _read(self, order: Order | None) -> web.Response:
        if order is None:
            return _error(self.version, 404, NOT_FOUND, single=True)
        return _success(self.version, self.render(order))

    def _cancel(self, request: web.Request, raw: bytes, order: Order | None) -> web.Response:
        reason, problem = _parse_body(request, raw)
        if problem is not None:
            return _error(self.version, 400, problem)
        if order is None:
            return _error(self.version, 404, NOT_FOUND, single=True)
        refusal = _refusal(order)
        if refusal is not None:
            order.history.append(f"cancel_order: refused ({refusal})")
            return _error(self.version, 406, refusal)
        now = _now()
        order.status = "cancelled"
        order.extra.update(canceled_at=now, updated_at=now, cancel_reason=reason)
        if order.extra.get("fulfillment_status") in ("initialled", "waiting"):
            order.extra["fulfillment_status"] = "cancelled"
        order.cancels_applied += 1
        order.history.append(f"cancel_order: cancelled (reason={reason!r})")
        return _success(self.version, self.render(order))

    # -- world ----------------------------------------------------------------------------------------------

    def render(self, order: Order) -> dict[str, Any]:
        """The order as Shoplazza returns it (a realistic subset of its fields)."""
        return {"id": order.order_id, "status": order.status, **order.extra, "line_items": order.items}

    def new_shop(self, spec: dict[str, Any]) -> Shop:
        shop, token = str(spec.get("shop") or ""), str(spec.get("access_token") or "")
        if not shop or not token:
            raise ValueError("a shoplazza shop needs shop and access_token")
        creds = {k: str(spec[k]) for k in ("shop", "access_token", "client_id", "client_secret") if spec.get(k)}
        creds["active"] = "false" if spec.get("active") is False else "true"
        creds["refresh_token"] = str(spec.get("refresh_token") or default_refresh_token(self.platform, shop))
        return Shop(self.platform, shop, creds, rate_limit=RATE_LIMIT)

    def new_order(self, shop: Shop, order_id: str, spec: dict[str, Any]) -> Order:
        status, financial, fulfillment = STATES[str(spec.get("state", "cancellable"))]
        status = str(spec.get("status") or status)
        items = spec.get("items") or _default_items(order_id)
        created = _now()
        extra: dict[str, Any] = {
            "number": f"{zlib.crc32(order_id.encode()) % 100000 + 1000}",
            "financial_status": spec.get("financial_status", financial),
            "fulfillment_status": spec.get("fulfillment_status", fulfillment),
            "cancel_reason": "Customer changed their mind" if status == "cancelled" else "",
            "canceled_at": _earlier(600) if status == "cancelled" else "",
            "currency": "USD",
            "total_price": f"{sum(float(i.get('price', 0)) * int(i.get('quantity', 1)) for i in items):.2f}",
            "created_at": created,
            "updated_at": created,
        }
        return Order(self.platform, shop.ref, order_id, status, items, extra)

    def cancel_elsewhere(self, order: Order) -> None:
        if order.status != "cancelled":
            now = _now()
            order.status = "cancelled"
            order.extra.update(canceled_at=now, updated_at=now, cancel_reason="Seller center")
            order.history.append("seller_center_cancel")

    def ship(self, order: Order) -> None:
        order.extra.update(fulfillment_status="shipped", updated_at=_now())
        order.history.append("shipped")

    def render_error(self, fault: Fault) -> web.Response:
        """A scripted error; in 2022-01, ``fault.code == "error"`` picks the ``{"error": ...}`` form."""
        status = fault.http_status or 500
        message = fault.message or PHRASES.get(status, "Internal Server Error")
        headers = {"Retry-After": str(math.ceil(fault.retry_after_s))} if fault.retry_after_s is not None else None
        if _enveloped(self.version):
            body = {"code": fault.code or ENVELOPE_CODES.get(status, "InternalError"), "message": message}
            return json_response(body, status=status, headers=headers)
        return _error(self.version, status, message, single=fault.code == "error", headers=headers)

    def render_rate_limited(self) -> web.Response:
        return _error(self.version, 429, "Too Many Requests", headers={"Retry-After": "1"})


def _parse_body(request: web.Request, raw: bytes) -> tuple[str, str | None]:
    if not raw.strip():
        return "", None
    if request.content_type != "application/json":
        return "", "Content-Type must be application/json"
    try:
        body = json.loads(raw)
    except ValueError:
        return "", "Request body is not valid JSON"
    if not isinstance(body, dict) or not isinstance(body.get("reason", ""), str):
        return "", "reason must be a string"
    return str(body.get("reason", "")), None


def _refusal(order: Order) -> str | None:
    if order.status == "cancelled":
        return "The order has been cancelled"
    if order.status == "finished" or order.extra.get("fulfillment_status") in STOPPED_FULFILLMENTS:
        return f"The order cannot be cancelled in fulfillment status {order.extra.get('fulfillment_status')}"
    if order.status not in ("opened", "placed"):
        return f"The order cannot be cancelled in status {order.status}"
    return None


def _default_items(order_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{order_id}-{n}", "product_id": f"a1b2c3d4-0000-4000-8000-00000000000{n}",
            "variant_id": f"e5f6a7b8-0000-4000-8000-00000000000{n}", "title": f"Sandbox item {n}",
            "sku": f"SKU-{n:03d}", "quantity": n, "price": "24.50", "fulfillment_status": "waiting",
        }
        for n in (1, 2)
    ]
