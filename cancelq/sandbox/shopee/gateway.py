"""``ShopeeEmulator``: the v2 order paths and token refresh, each checked, counted and answered."""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from ..emulator import Emulator, json_response
from ..faults import Fault
from ..state import Order, Shop, default_refresh_token
from . import lost, orders
from .answers import DEFAULT_MESSAGES, Rejected, answer, error_response
from .signing import authenticate, authenticate_public

REFRESH_PATH = "/api/v2/auth/access_token/get"
ACCESS_TOKEN_LIFETIME_S = 4 * 3600
DETAIL_PATH = "/api/v2/order/get_order_detail"
CANCEL_PATH = "/api/v2/order/cancel_order"
BUYER_CANCEL_PATH = "/api/v2/order/handle_buyer_cancellation"
DEFAULT_RATE_LIMIT = (10.0, 20.0)

Apply = Callable[[Order | None, Mapping[str, Any]], Mapping[str, Any]]


class ShopeeEmulator(Emulator):
    """Shopee's order APIs for the shops and orders seeded through the control API."""

    platform = "shopee"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(DETAIL_PATH, self._get_order_detail),
            web.post(CANCEL_PATH, self._cancel_order),
            web.post(BUYER_CANCEL_PATH, self._handle_buyer_cancellation),
            web.post(REFRESH_PATH, self._refresh_access_token),
            web.get(lost.GET_PATH, lambda request: lost.get_lost(self.store, request)),
            web.post(lost.CONFIRM_PATH, lambda request: lost.confirm(self.store, request)),
        ]

    # --- seeding ---

    def new_shop(self, spec: dict[str, Any]) -> Shop:
        creds = {
            "partner_id": str(int(spec["partner_id"])), "partner_key": str(spec["partner_key"]),
            "shop_id": str(int(spec["shop_id"])), "access_token": str(spec["access_token"]),
        }
        refresh_token = spec.get("refresh_token") or default_refresh_token(self.platform, creds["shop_id"])
        creds["refresh_token"] = str(refresh_token)
        return Shop(platform=self.platform, ref=creds["shop_id"], creds=creds, rate_limit=DEFAULT_RATE_LIMIT)

    def new_order(self, shop: Shop, order_id: str, spec: dict[str, Any]) -> Order:
        return orders.seed(shop.ref, order_id, spec)

    def ship(self, order: Order) -> None:
        orders.ship(order)

    def cancel_elsewhere(self, order: Order) -> None:
        orders.cancel_elsewhere(order)

    def confirm_cancel(self, order: Order) -> None:
        orders.confirm_cancel(order)

    def buyer_cancel(self, order: Order, spec: dict[str, Any]) -> None:
        orders.buyer_cancel(order, spec)

    # --- answers the base class asks for ---

    def render_error(self, fault: Fault) -> web.Response:
        code = fault.code or "error_server"
        return error_response(code, fault.message or DEFAULT_MESSAGES.get(code, "Something wrong."),
                              fault.http_status)

    def render_rate_limited(self) -> web.Response:
        return error_response("error_rate_limit", DEFAULT_MESSAGES["error_rate_limit"])

    # --- endpoints ---

    async def _get_order_detail(self, request: web.Request) -> web.StreamResponse:
        try:
            shop = authenticate(self.store, request)
        except Rejected as exc:
            return error_response(exc.code, exc.message)
        sns = [s.strip() for s in request.query.get("order_sn_list", "").split(",") if s.strip()]
        fields = {f.strip() for f in request.query.get("response_optional_fields", "").split(",")}
        found = [o for o in (self.store.order(self.platform, sn) for sn in sns[:orders.MAX_ORDER_SN])
                 if o is not None and o.shop == shop.ref]
        return await self.call(
            request, shop=shop, endpoint="get_order_detail", order=found[0] if len(found) == 1 else None,
            act=lambda: answer(lambda: orders.detail(sns, found, fields)),
        )

    async def _cancel_order(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, "cancel_order", orders.apply_cancel)

    async def _handle_buyer_cancellation(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, "handle_buyer_cancellation", orders.apply_buyer_decision)

    async def _write(self, request: web.Request, endpoint: str, apply: Apply) -> web.StreamResponse:
        try:
            shop = authenticate(self.store, request)
            body = await _json_body(request)
        except Rejected as exc:
            return error_response(exc.code, exc.message)
        order = self.store.order(self.platform, str(body.get("order_sn") or ""))
        if order is not None and order.shop != shop.ref:
            order = None
        return await self.call(request, shop=shop, endpoint=endpoint, order=order,
                               act=lambda: answer(lambda: apply(order, body)))

    async def _refresh_access_token(self, request: web.Request) -> web.StreamResponse:
        try:
            partner_id = authenticate_public(self.store, request)
            body = await _json_body(request)
            shop = self._refresh_shop(partner_id, body)
        except Rejected as exc:
            return error_response(exc.code, exc.message)
        return await self.call(request, shop=shop, endpoint="refresh_access_token", order=None,
                               act=lambda: self._rotate(shop, str(body["refresh_token"])))

    def _refresh_shop(self, partner_id: str, body: Mapping[str, Any]) -> Shop:
        for name in ("refresh_token", "partner_id", "shop_id"):
            if not body.get(name):
                raise Rejected("error_param", f"Wrong parameters, detail: {name} is a required field.")
        if str(body["partner_id"]) != partner_id:
            raise Rejected("error_param", "Wrong parameters, detail: partner_id in body differs from the query.")
        shop = self.store.shops.get((self.platform, str(body["shop_id"])))
        if shop is None or shop.creds["partner_id"] != partner_id:
            raise Rejected("shop_no_linked", DEFAULT_MESSAGES["shop_no_linked"])
        return shop

    def _rotate(self, shop: Shop, refresh_token: str) -> web.Response:
        if not shop.refresh_valid:
            return error_response("refresh_token_expired", DEFAULT_MESSAGES["refresh_token_expired"])
        if not hmac.compare_digest(refresh_token, shop.creds["refresh_token"]):
            return error_response("error_shop_refresh_token", DEFAULT_MESSAGES["error_shop_refresh_token"])
        shop.refreshed(access_token=secrets.token_hex(16), refresh_token=secrets.token_hex(16),
                       lifetime_s=ACCESS_TOKEN_LIFETIME_S)
        return json_response({
            "error": "", "message": "", "request_id": uuid.uuid4().hex, "partner_id": int(shop.creds["partner_id"]),
            "shop_id": int(shop.ref), "access_token": shop.creds["access_token"],
            "refresh_token": shop.creds["refresh_token"], "expire_in": ACCESS_TOKEN_LIFETIME_S,
        })


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise Rejected("error_param", "Wrong parameters, detail: the body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Rejected("error_param", "Wrong parameters, detail: the body must be a JSON object.")
    return body
