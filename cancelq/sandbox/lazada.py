"""A Lazada Open Platform gateway at its real paths: /rest/order/items/get and /rest/order/reverse/cancel/*.

What it checks, with its own code (nothing from ``cancelq.platforms``), in the
gateway's order: the system parameters are present; ``app_key`` is a known app;
the millisecond (or ISO) ``timestamp`` is within 7200 s; ``sign_method`` is
sha256; ``sign`` is the UPPERCASE HMAC-SHA256 of the API path plus every
parameter sent (query and form alike, sorted, key+value) except ``sign``; the
``access_token`` belongs to that app and is valid. Every error is
``{"code","type","message","request_id"}`` with HTTP 200, as Lazada answers.
Both GET query strings and POST forms are accepted, as the gateway does.

State is per order item: pending, packed, ready_to_ship, repacked (cancellable),
shipped, delivered, canceled. Cancelling a packed item cancels every other item
of its package too ("other order items in the same package will also be
cancelled"). Validate answers per-country ``reason_options`` (ids and names
differ by the shop's country) and ``tip_type "error"`` when an item cannot be
cancelled. Create of a line that is no longer cancellable answers code "0" with
``tip_type "error"`` (as the doc's own sample does); create of a line that is
already ``canceled`` answers **code 123 "E0123: invalid trade order lines [..]"**:
the sandbox's choice for a second cancel (platforms.md 2.6 calls E0123 the
probable signal, unverified). Each create that takes effect counts once in
``order.cancels_applied``. Out of Stock and Wrong Price reasons zero the SKUs'
stock (recorded in ``order.extra["stock_zeroed"]``).

Choices where Lazada documents nothing: an expired timestamp answers
``InvalidTimestamp``, another sign_method ``InvalidSignMethod``, an unknown app
``InvalidAppKey``; the limit answer is ``ApiCallLimit`` with type ISP and
"this ban will last 1 seconds" (default 20/s, burst 20, per shop per API).

Token refresh (``GET|POST /rest/auth/token/refresh``, endpoint name
"refresh_access_token"): the gateway's checks without an access_token, then
``refresh_token`` must be the current one of one of the app's sellers. A refresh
answers a new pair (``expires_in`` 864000, ``refresh_expires_in`` 4320000, the
2025 sample's values) and the old access token stops working at once (Lazada
says nothing of a grace period). The old refresh token is spent too: the doc
only says a new one is returned, rotation is the sandbox's strict reading. An
unknown, spent or killed (control API) refresh token answers
``IllegalRefreshToken`` "The specified refresh token is invalid or expired".
A seller seeded without ``refresh_token`` gets
``state.default_refresh_token("lazada", seller_id)``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from .emulator import Emulator, json_response
from .faults import Fault
from .state import Order, Shop, Store, default_refresh_token

PREFIX = "/rest"
REFRESH_PATH = "/auth/token/refresh"
ACCESS_TOKEN_LIFETIME_S = 864000
REFRESH_TOKEN_LIFETIME_S = 4320000
ILLEGAL_REFRESH_TOKEN = "The specified refresh token is invalid or expired"
APIS: Mapping[str, str] = {
    "GetOrderItems": "/order/items/get",
    "OrderCancelValidate": "/order/reverse/cancel/validate",
    "InitReverseOrderCancel": "/order/reverse/cancel/create",
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "GetOrderItems": ("order_id",),
    "OrderCancelValidate": ("order_id", "order_item_id_list"),
    "InitReverseOrderCancel": ("order_id", "order_item_id_list", "reason_id"),
}
SYSTEM_PARAMS = ("app_key", "timestamp", "sign_method", "sign")
TIMESTAMP_WINDOW_S = 7200
DEFAULT_RATE = (20.0, 20.0)

CANCELLABLE = frozenset({"pending", "packed", "ready_to_ship", "repacked"})
PACKED = frozenset({"packed", "ready_to_ship", "repacked"})
PACKAGED = frozenset({"packed", "ready_to_ship", "repacked", "shipped", "delivered"})
STATES = {"cancellable": "pending", "cancelled": "canceled", "shipped": "shipped", "packed": "packed"}
CURRENCIES = {"sg": "SGD", "my": "MYR", "vn": "VND", "th": "THB", "ph": "PHP", "id": "IDR"}

_EN = ("Sourcing Delay", "Out of Stock", "Wrong Price or Pricing Error", "Customer Requested Cancellation",
       "Unable to Deliver to Buyer's Address")
REASON_NAMES: Mapping[str, tuple[str, ...]] = {
    "sg": _EN,
    "my": _EN,
    "ph": _EN,
    "vn": ("Chậm nguồn hàng", "Hết hàng", "Sai giá hoặc lỗi giá", "Theo yêu cầu của khách hàng",
           "Không giao được đến địa chỉ người mua"),
    "th": ("การจัดหาสินค้าล่าช้า", "สินค้าหมด", "ราคาผิดพลาด"),
    "id": ("Keterlambatan pengadaan barang", "Stok habis", "Harga salah"),
}
ROLES = ("sourcing_delay", "out_of_stock", "pricing_error", "customer_request", "undeliverable")
STOCK_ZEROING_ROLES = frozenset({"out_of_stock", "pricing_error"})
COUNTRY_ID_BASE = {"sg": 10000000, "my": 10100000, "vn": 10200000, "th": 10300000, "ph": 10400000, "id": 10500000}

VALIDATE_TIP = (
    "SKU stock may be set to 0* after cancellation due to reasons: 'out of stock' or 'incorrect pricing', to "
    "prevent new orders while you adjust your stock/pricing. You can adjust your stock back up at any time."
)
CREATE_TIP = (
    "The order has been cancelled and SKU stock may have been set to 0. Please ensure you check your "
    "stock/pricing under \"Manage Products\"."
)

ERROR_DEFAULTS: Mapping[str, tuple[str, str]] = {
    "ApiCallLimit": ("ISP", "Api access frequency exceeds the limit. this ban will last {ban} seconds"),
    "AppCallLimit": ("ISP", "App call limit exceeded. this ban will last {ban} seconds"),
    "901": ("ISP", "Limit service request speed in server side temporarily"),
    "IllegalAccessToken": ("ISV", "The specified access token is invalid or expired"),
    "IncompleteSignature": ("ISV", "The request signature does not conform to platform standards"),
    "MissingParameter": ("ISV", "A mandatory parameter is not supplied"),
    "ServiceTimeout": ("ISP", "The service timed out"),
    "SYSTEM_ERROR": ("ISP", "System error: surge in traffic, please try again later"),
    "6": ("ISP", "E006: System Error"),
    "106": ("ISP", "E0106: ROC internal error"),
    "16": ("ISV", "E016: Invalid Order ID"),
    "102": ("ISV", "E0102: trade order line id is empty or invalid"),
    "104": ("ISV", "E0104: reason is empty or invalid"),
    "122": ("ISV", "E0122: invalid trade order"),
    "123": ("ISV", "E0123: invalid trade order lines %s"),
}
ISP_CODES = frozenset({"4136", "4137", "UnknownRuntimeException", "BIZ_DEGRADATION_ERROR"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Reject(Exception):
    """A gateway-level refusal, answered before the call reaches the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def lazada_sign(secret: str, api_path: str, params: Mapping[str, str]) -> str:
    """The sandbox's own LazOP signature: path + sorted key+value pairs, HMAC-SHA256, upper hex."""
    text = api_path + "".join(k + params[k] for k in sorted(params))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def reason_options(country: str) -> list[dict[str, str]]:
    names = REASON_NAMES.get(country, _EN)
    base = COUNTRY_ID_BASE.get(country, COUNTRY_ID_BASE["sg"])
    return [{"reason_name": name, "reason_id": str(base + 19 + 2 * n)} for n, name in enumerate(names)]


def _reason_role(country: str, reason_id: str) -> str | None:
    for n, option in enumerate(reason_options(country)):
        if option["reason_id"] == reason_id:
            return ROLES[n]
    return None


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
        status = self._seed_status(spec)
        country = shop.creds.get("country", "sg")
        given = spec.get("items") or [{} for _ in range(int(spec.get("item_count", 2)))]
        items = [self._item(order_id, n, status, country, dict(row)) for n, row in enumerate(given, 1)]
        order = Order(platform=self.platform, shop=shop.ref, order_id=order_id, status=status, items=items,
                      extra={"country": country, "stock_zeroed": []})
        _sync_status(order)
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
        for item in order.items:
            if item["status"] != "canceled":
                item["status"] = "shipped"
                item["tracking_code"] = item.get("tracking_code") or f"LZSB{item['order_item_id']}"
                item["package_id"] = item.get("package_id") or f"FP{order.order_id}01"
        order.history.append("shipped")
        _sync_status(order)

    # --- the gateway ---

    def _handler(self, api: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, api)

        return handle

    async def _serve(self, request: web.Request, api: str) -> web.StreamResponse:
        params = await _params(request)
        try:
            shop = self._authenticate(request.path[len(PREFIX):], params)
            _require(params, REQUIRED[api])
        except _Reject as exc:
            return json_response(self._error_body(exc.code, exc.message))
        order = self.store.order(self.platform, params["order_id"])
        if order is not None and order.shop != shop.ref:
            order = None
        acts = {"GetOrderItems": self._items, "OrderCancelValidate": self._validate,
                "InitReverseOrderCancel": self._create}
        act = acts[api]
        return await self.call(request, shop=shop, endpoint=api, order=order, act=lambda: act(order, params))

    async def _refresh(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        try:
            app = self._signed_app(REFRESH_PATH, params)
            _require(params, ("refresh_token",))
        except _Reject as exc:
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
        _require(params, ("access_token",))
        shop = self._shop_by_token(params["access_token"])
        if shop is None or shop.creds["app_key"] != params["app_key"] or not shop.token_valid(params["access_token"]):
            raise _Reject("IllegalAccessToken", "The specified access token is invalid or expired")
        return shop

    def _signed_app(self, api_path: str, params: Mapping[str, str]) -> Shop:
        """The gateway's checks before any token: system parameters, app, timestamp, sign; a shop of the app."""
        _require(params, SYSTEM_PARAMS)
        app = self._app(params["app_key"])
        if app is None:
            raise _Reject("InvalidAppKey", f"The app key {params['app_key']} is invalid")
        if not _fresh(params["timestamp"]):
            raise _Reject("InvalidTimestamp", "Invalid timestamp: it must be within 7200 seconds of UTC")
        if params["sign_method"] != "sha256":
            raise _Reject("InvalidSignMethod", f"Unsupported sign_method {params['sign_method']!r}; use sha256")
        unsigned = {k: v for k, v in params.items() if k != "sign"}
        expected = lazada_sign(app.creds["app_secret"], api_path, unsigned)
        if not hmac.compare_digest(expected, params["sign"]):
            raise _Reject("IncompleteSignature", "The request signature does not conform to platform standards")
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
        if blocked:
            return self._ok({"tip_type": "error", "tip_content": _refusal(blocked), "reason_options": []})
        country = order.extra.get("country", "sg")
        tip = VALIDATE_TIP + _spill_note(order, lines)
        return self._ok({"tip_type": "warning", "tip_content": tip, "reason_options": reason_options(country)})

    def _create(self, order: Order | None, params: Mapping[str, str]) -> web.Response:
        lines = self._lines(order, params)
        if isinstance(lines, web.Response):
            return lines
        assert order is not None
        role = _reason_role(order.extra.get("country", "sg"), params["reason_id"])
        if role is None:
            return self._error("104", "E0104: reason is empty or invalid")
        done = [i["order_item_id"] for i in lines if i["status"] == "canceled"]
        if done:
            return self._error("123", f"E0123: invalid trade order lines {done}")
        blocked = [i for i in lines if i["status"] not in CANCELLABLE]
        if blocked:
            return self._ok({"tip_type": "error", "tip_content": _refusal(blocked)})
        _cancel(order, lines, role, params["reason_id"])
        return self._ok({"tip_type": "success", "tip_content": CREATE_TIP})

    def _lines(self, order: Order | None, params: Mapping[str, str]) -> list[dict[str, Any]] | web.Response:
        """The order's items named by ``order_item_id_list``, or the error answer."""
        if order is None:
            return self._error("122", "E0122: invalid trade order")
        ids = _parse_ids(params["order_item_id_list"])
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

    # --- seeding ---

    @staticmethod
    def _seed_status(spec: Mapping[str, Any]) -> str:
        if spec.get("status"):
            return str(spec["status"])
        state = str(spec.get("state") or "cancellable")
        if state not in STATES:
            raise ValueError(f"Lazada orders have no state {state!r}; expected one of {', '.join(STATES)}")
        return STATES[state]

    @staticmethod
    def _item(order_id: str, n: int, status: str, country: str, row: dict[str, Any]) -> dict[str, Any]:
        base = int(order_id) if order_id.isdigit() else zlib.crc32(order_id.encode())
        item_status = str(row.get("status") or status)
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S +0800")
        item: dict[str, Any] = {
            "order_item_id": base * 100 + n, "order_id": int(order_id) if order_id.isdigit() else order_id,
            "status": item_status, "package_id": f"FP{order_id}01" if item_status in PACKAGED else "",
            "tracking_code": f"LZSB{base * 100 + n}" if item_status in ("shipped", "delivered") else "",
            "shop_sku": f"{base}-{n}", "sku": f"SKU-{n}", "sku_id": str(base * 10 + n), "name": f"Sandbox item {n}",
            "paid_price": 19.9, "currency": CURRENCIES.get(country, "SGD"), "reason": "", "reason_detail": "",
            "cancel_return_initiator": "", "is_cancel_pending": False, "need_cancel_confirm": False,
            "reverse_order_id": "", "created_at": now, "updated_at": now,
        }
        if item_status == "canceled":
            item.update(reason="Out of Stock", cancel_return_initiator="cancellation-seller")
        item.update(row)
        return item


# --- module helpers --------------------------------------------------------------------------------------------


async def _params(request: web.Request) -> dict[str, str]:
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not params.get(name):
            raise _Reject(
                "MissingParameter",
                f'The input parameter "{name}" that is mandatory for processing this request is not supplied',
            )


def _fresh(timestamp: str, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    try:
        seconds = int(timestamp) / 1000 if timestamp.isdigit() else _iso_seconds(timestamp)
    except ValueError:
        return False
    return abs(now - seconds) < TIMESTAMP_WINDOW_S


def _iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _parse_ids(text: str) -> list[int]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if not isinstance(value, list) or not all(str(v).isdigit() and not isinstance(v, bool) for v in value):
        return []
    return [int(v) for v in value]


def _refusal(blocked: list[dict[str, Any]]) -> str:
    listed = ", ".join(f"{i['order_item_id']} ({i['status']})" for i in blocked)
    return f"Only order items with the Pending ~ Ready To Ship status can be cancelled: {listed}"


def _package_mates(order: Order, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    packages = {i["package_id"] for i in lines if i["status"] in PACKED and i.get("package_id")}
    named = {id(i) for i in lines}
    return [i for i in order.items if i.get("package_id") in packages and id(i) not in named
            and i["status"] in CANCELLABLE]


def _spill_note(order: Order, lines: list[dict[str, Any]]) -> str:
    mates = _package_mates(order, lines)
    if not mates:
        return ""
    ids = [i["order_item_id"] for i in mates]
    return f" Other order items in the same package will also be cancelled: {ids}."


def _cancel(order: Order, lines: list[dict[str, Any]], role: str, reason_id: str) -> None:
    affected = lines + _package_mates(order, lines)
    name = next(o["reason_name"] for o in reason_options(order.extra.get("country", "sg"))
                if o["reason_id"] == reason_id)
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S +0800")
    for item in affected:
        item.update(status="canceled", reason=name, cancel_return_initiator="cancellation-seller",
                    reverse_order_id=str(int(item["order_item_id"]) + 7), updated_at=now)
        if role in STOCK_ZEROING_ROLES:
            order.extra["stock_zeroed"].append(item["sku"])
    order.cancels_applied += 1
    order.history.append(f"InitReverseOrderCancel {[i['order_item_id'] for i in affected]} reason_id={reason_id}")
    _sync_status(order)


def _sync_status(order: Order) -> None:
    """The order's status as GetOrders shows it: the items' one status, or the mix of them."""
    statuses = sorted({str(i["status"]) for i in order.items})
    order.status = statuses[0] if len(statuses) == 1 else ",".join(statuses)
