"""``LazadaEmulator``: the gateway's routes, its checks in order, and the three order APIs plus refresh."""

from __future__ import annotations

import hmac
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from ..emulator import Emulator, json_response
from ..faults import Fault
from ..state import Order, Shop, Store, default_refresh_token
from . import orders
from .catalog import CANCELLABLE, CREATE_TIP, ERROR_DEFAULTS, ISP_CODES, VALIDATE_TIP, reason_options, reason_role
from .signing import SYSTEM_PARAMS, Reject, check_signature, read_params, require

PREFIX = "/rest"
REFRESH_PATH = "/auth/token/refresh"
ACCESS_TOKEN_LIFETIME_S = 864000
REFRESH_TOKEN_LIFETIME_S = 4320000
ILLEGAL_REFRESH_TOKEN = "The specified refresh token is invalid or expired"
APIS: Mapping[str, str] = {
    "GetOrderItems": "/order/items/get",
    "OrderCancelValidate": "/order/reverse/cancel/validate",
    "InitReverseOrderCancel": "/order/reverse/cancel/create",
    "InitReverseOrderCancelDecide": "/order/reverse/cancel/seller/decide",
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "GetOrderItems": ("order_id",),
    "OrderCancelValidate": ("order_id", "order_item_id_list"),
    "InitReverseOrderCancel": ("order_id", "order_item_id_list", "reason_id"),
    "InitReverseOrderCancelDecide": ("reverse_order_id", "agree_cancel"),
}
DEFAULT_RATE = (20.0, 20.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Act = Callable[[Order | None, Mapping[str, str]], web.Response]


class LazadaEmulator(Emulator):
    """Lazada's gateway and its order-item state machine."""

    platform = "lazada"

    def limit_scope(self, endpoint: str) -> str:
        return endpoint  # Lazada limits each API on its own (ApiCallLimit is per API)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._seq = itertools.count(1)
        self._by_app: dict[str, Shop] = {}
        self._by_token: dict[str, Shop] = {}
        self._acts: dict[str, Act] = {"GetOrderItems": self._items, "OrderCancelValidate": self._validate,
                                      "InitReverseOrderCancel": self._create,
                                      "InitReverseOrderCancelDecide": self._decide}

    # --- the Emulator contract ---

    def routes(self) -> list[web.RouteDef]:
        routes = []
        for api, path in APIS.items():
            handler = self._handler(api)
            routes += [web.get(PREFIX + path, handler), web.post(PREFIX + path, handler)]
        routes += [web.get(PREFIX + REFRESH_PATH, self._refresh), web.post(PREFIX + REFRESH_PATH, self._refresh)]
        return routes

    def new_shop(self, spec: dict[str, Any]) -> Shop:
        creds = {k: str(spec[k]) for k in ("app_key", "app_secret", "access_token")}
        creds["country"] = str(spec.get("country") or "sg").lower()
        ref = str(spec.get("seller_id") or creds["app_key"])
        creds["seller_id"] = ref
        creds["refresh_token"] = str(spec.get("refresh_token") or default_refresh_token(self.platform, ref))
        return Shop(platform=self.platform, ref=ref, creds=creds, rate_limit=DEFAULT_RATE)

    def new_order(self, shop: Shop, order_id: str, spec: dict[str, Any]) -> Order:
        status = orders.seed_status(spec)
        country = shop.creds.get("country", "sg")
        given = spec.get("items") or [{} for _ in range(int(spec.get("item_count", 2)))]
        items = [orders.new_item(order_id, n, status, country, dict(row)) for n, row in enumerate(given, 1)]
        order = Order(platform=self.platform, shop=shop.ref, order_id=order_id, status=status, items=items,
                      extra={"country": country, "stock_zeroed": []})
        orders.sync_status(order)
        return order

    def render_error(self, fault: Fault) -> web.Response:
        code = fault.code or "6"
        kind, template = ERROR_DEFAULTS.get(code, ("ISP" if code in ISP_CODES else "ISV", code))
        ban = fault.ban_s if fault.ban_s is not None else int(fault.retry_after_s or 1)
        message = fault.message or template.replace("{ban}", str(ban))
        return json_response(self._error_body(code, message, kind), status=fault.http_status or 200)

    def render_rate_limited(self) -> web.Response:
        message = "Api access frequency exceeds the limit. this ban will last 1 seconds"
        return json_response(self._error_body("ApiCallLimit", message, "ISP"))

    def ship(self, order: Order) -> None:
        orders.ship(order)

    def cancel_elsewhere(self, order: Order) -> None:
        orders.cancel_elsewhere(order)

    def buyer_cancel(self, order: Order, spec: dict[str, Any]) -> None:
        orders.buyer_cancel(order, spec)

    # --- the gateway ---

    def _handler(self, api: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, api)

        return handle

    async def _serve(self, request: web.Request, api: str) -> web.StreamResponse:
        params = await read_params(request)
        try:
            shop = self._authenticate(request.path[len(PREFIX):], params)
            require(params, REQUIRED[api])
        except Reject as exc:
            return json_response(self._error_body(exc.code, exc.message))
        order = self._order_of(api, params)
        if order is not None and order.shop != shop.ref:
            order = None
        act = self._acts[api]
        return await self.call(request, shop=shop, endpoint=api, order=order, act=lambda: act(order, params))

    def _order_of(self, api: str, params: Mapping[str, str]) -> Order | None:
        """The order a call names: by ``order_id``, or for a decision by the reverse order it holds."""
        if api != "InitReverseOrderCancelDecide":
            return self.store.order(self.platform, params["order_id"])
        reverse_id = params["reverse_order_id"]
        return next((o for o in self.store.orders.values() if o.platform == self.platform
                     and reverse_id in o.extra.get("reverse_orders", {})), None)

    async def _refresh(self, request: web.Request) -> web.StreamResponse:
        params = await read_params(request)
        try:
            app = self._signed_app(REFRESH_PATH, params)
            require(params, ("refresh_token",))
        except Reject as exc:
            return json_response(self._error_body(exc.code, exc.message))
        shop = next((s for s in self._shops() if s.creds["app_key"] == app.creds["app_key"]
                     and hmac.compare_digest(s.creds["refresh_token"], params["refresh_token"])), None)
        if shop is None:
            return self._error("IllegalRefreshToken", ILLEGAL_REFRESH_TOKEN)
        return await self.call(request, shop=shop, endpoint="refresh_access_token", order=None,
                               act=lambda: self._rotate(shop))

    def _rotate(self, shop: Shop) -> web.Response:
        if not shop.refresh_valid:
            return self._error("IllegalRefreshToken", ILLEGAL_REFRESH_TOKEN)
        shop.refreshed(access_token=f"50000{secrets.token_hex(20)}", refresh_token=f"50001{secrets.token_hex(20)}",
                       lifetime_s=ACCESS_TOKEN_LIFETIME_S)
        country = shop.creds.get("country", "sg")
        return json_response({
            "access_token": shop.creds["access_token"], "refresh_token": shop.creds["refresh_token"],
            "expires_in": ACCESS_TOKEN_LIFETIME_S, "refresh_expires_in": REFRESH_TOKEN_LIFETIME_S,
            "country": country, "account_platform": "seller_center", "account": f"seller-{shop.ref}@sandbox.test",
            "country_user_info": [{"country": country, "seller_id": shop.ref, "user_id": shop.ref,
                                   "short_code": f"{country.upper()}{shop.ref}"}],
            "code": "0", "request_id": self._request_id(),
        })

    def _authenticate(self, api_path: str, params: Mapping[str, str]) -> Shop:
        self._signed_app(api_path, params)
        require(params, ("access_token",))
        shop = self._shop_by_token(params["access_token"])
        if shop is None or shop.creds["app_key"] != params["app_key"] or not shop.token_valid(params["access_token"]):
            raise Reject("IllegalAccessToken", "The specified access token is invalid or expired")
        return shop

    def _signed_app(self, api_path: str, params: Mapping[str, str]) -> Shop:
        """The gateway's checks before any token: system parameters, app, timestamp, sign; a shop of the app."""
        require(params, SYSTEM_PARAMS)
        app = self._app(params["app_key"])
        if app is None:
            raise Reject("InvalidAppKey", f"The app key {params['app_key']} is invalid")
        check_signature(params, api_path=api_path, app_secret=app.creds["app_secret"])
        return app

    def _app(self, app_key: str) -> Shop | None:
        cached = self._by_app.get(app_key)
        if cached is not None and self._live(cached):
            return cached
        found = next((s for s in self._shops() if s.creds.get("app_key") == app_key), None)
        if found is not None:
            self._by_app[app_key] = found
        return found

    def _shop_by_token(self, token: str) -> Shop | None:
        cached = self._by_token.get(token)
        if cached is not None and self._live(cached) and cached.creds.get("access_token") == token:
            return cached
        found = next((s for s in self._shops() if s.creds.get("access_token") == token), None)
        if found is not None:
            self._by_token[token] = found
        return found

    def _shops(self) -> list[Shop]:
        return [s for s in self.store.shops.values() if s.platform == self.platform]

    def _live(self, shop: Shop) -> bool:
        return self.store.shops.get((self.platform, shop.ref)) is shop

    # --- the APIs ---

    def _items(self, order: Order | None, params: Mapping[str, str]) -> web.Response:
        if order is None:
            return self._error("16", "E016: Invalid Order ID")
        return self._ok(order.items)

    def _validate(self, order: Order | None, params: Mapping[str, str]) -> web.Response:
        lines = self._lines(order, params)
        if isinstance(lines, web.Response):
            return lines
        assert order is not None
        blocked = [i for i in lines if i["status"] not in CANCELLABLE]
        if blocked or orders.requested(lines):
            tip = orders.refusal(blocked) if blocked else orders.requested(lines)
            return self._ok({"tip_type": "error", "tip_content": tip, "reason_options": []})
        country = order.extra.get("country", "sg")
        tip = VALIDATE_TIP + orders.spill_note(order, lines)
        return self._ok({"tip_type": "warning", "tip_content": tip, "reason_options": reason_options(country)})

    def _create(self, order: Order | None, params: Mapping[str, str]) -> web.Response:
        lines = self._lines(order, params)
        if isinstance(lines, web.Response):
            return lines
        assert order is not None
        role = reason_role(order.extra.get("country", "sg"), params["reason_id"])
        if role is None:
            return self._error("104", "E0104: reason is empty or invalid")
        done = [i["order_item_id"] for i in lines if i["status"] == "canceled"]
        if done:
            return self._error("123", f"E0123: invalid trade order lines {done}")
        blocked = [i for i in lines if i["status"] not in CANCELLABLE]
        if blocked or orders.requested(lines):
            return self._ok({"tip_type": "error",
                             "tip_content": orders.refusal(blocked) if blocked else orders.requested(lines)})
        orders.cancel(order, lines, role, params["reason_id"])
        return self._ok({"tip_type": "success", "tip_content": CREATE_TIP})

    def _decide(self, order: Order | None, params: Mapping[str, str]) -> web.Response:
        """InitReverseOrderCancelDecide: the seller agrees to (cancels the items) or refuses a buyer's request."""
        agree = params["agree_cancel"].lower()
        if agree not in ("true", "false"):
            return self._error("131", "E0131: no decision for this reverse order")
        reverse_id = params["reverse_order_id"]
        if order is None or not orders.awaiting(order, reverse_id):
            return self._error("105", "E0105: reverse order id is empty or invalid")
        orders.decide(order, reverse_id, agree == "true")
        return self._ok(None)

    def _lines(self, order: Order | None, params: Mapping[str, str]) -> list[dict[str, Any]] | web.Response:
        """The order's items named by ``order_item_id_list``, or the error answer."""
        if order is None:
            return self._error("122", "E0122: invalid trade order")
        ids = orders.parse_ids(params["order_item_id_list"])
        if not ids:
            return self._error("102", "E0102: trade order line id is empty or invalid")
        by_id = {int(i["order_item_id"]): i for i in order.items}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            return self._error("123", f"E0123: invalid trade order lines {unknown}")
        return [by_id[i] for i in ids]

    # --- answers ---

    def _request_id(self) -> str:
        return f"2101069{int(time.time() * 1000)}{next(self._seq) % 100000:05d}"

    def _ok(self, data: Any) -> web.Response:
        return json_response({"code": "0", "data": data, "request_id": self._request_id()})

    def _error(self, code: str, message: str) -> web.Response:
        return json_response(self._error_body(code, message))

    def _error_body(self, code: str, message: str, kind: str = "ISV") -> dict[str, str]:
        return {"code": code, "type": kind, "message": message, "request_id": self._request_id()}
