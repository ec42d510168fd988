"""The Shopee Open Platform v2 emulator: get_order_detail, cancel_order, handle_buyer_cancellation.

Every call is checked the way Shopee's gateway does, with this module's own
code: the common query parameters are present, partner_id is known, the
timestamp (seconds) is within 5 minutes, the HMAC-SHA256 sign matches, the shop
is linked to the partner and the access_token is the shop's and still valid.
Answers are ``{"error","message","request_id","response"}`` like the docs.

Choices where Shopee documents nothing:

- HTTP status of an error (undocumented): 403 for auth, sign and permission
  errors, 429 for error_rate_limit and error_limit, 500 for error_server and
  error_network, 404 for error_not_found, 400 for the rest (parameters and
  business rejections). Clients must read the body whatever the status.
- A second cancel_order on a CANCELLED order, like a cancel of any status that
  is not cancellable (IN_CANCEL, SHIPPED, COMPLETED...), answers
  ``order.error_limit`` "Can not cancel this order." and changes nothing.
- A seller cancel moves the order straight to CANCELLED with cancel_by
  "seller" (the real platform may show IN_CANCEL for a while).
- handle_buyer_cancellation on an order that is not IN_CANCEL answers
  ``order.order_status_invalid``; ACCEPT cancels it (cancel_by "buyer"),
  REJECT puts back the status it had before the buyer asked.
- get_order_detail leaves out order_sn it does not find in the shop and
  answers error_param "The information you queried is not found." when it
  finds none. Parameters are checked (order_sn, cancel_reason, item_list...)
  before the order's state.
- Rate limit (Shopee publishes none): a bucket of 10/s, burst 20, per shop and
  API, answered with error_rate_limit when limits are switched on.

Token refresh (``POST /api/v2/auth/access_token/get``, endpoint name
"refresh_access_token"): a Public API call (sign over partner_id + path +
timestamp) with the JSON body ``{refresh_token, partner_id, shop_id}``. The
shop's refresh token is single-use and rotates: a refresh answers a new
access_token (``expire_in`` 14400, the documented 4 h) and a new refresh_token,
and the old access token stops working at once. A spent or unknown refresh
token answers ``error_shop_refresh_token`` "Your refresh token is error
,please check refresh token or shopid." (the refresh API's documented error for
a wrong token; Shopee names no separate code for a spent one); a refresh grant
killed through the control API answers ``refresh_token_expired``; a shop_id not
linked to the partner answers ``shop_no_linked``. A shop seeded without a
``refresh_token`` gets ``state.default_refresh_token("shopee", shop_id)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .emulator import Emulator, json_response
from .faults import Fault
from .state import Order, Shop, default_refresh_token

REFRESH_PATH = "/api/v2/auth/access_token/get"
ACCESS_TOKEN_LIFETIME_S = 4 * 3600
DETAIL_PATH = "/api/v2/order/get_order_detail"
CANCEL_PATH = "/api/v2/order/cancel_order"
BUYER_CANCEL_PATH = "/api/v2/order/handle_buyer_cancellation"

CANCELLABLE = frozenset({"UNPAID", "READY_TO_SHIP", "PROCESSED", "RETRY_SHIP", "PENDING"})
STATUSES = CANCELLABLE | {
    "SHIPPED", "TO_CONFIRM_RECEIVE", "IN_CANCEL", "CANCELLED", "TO_RETURN", "COMPLETED", "INVOICE_PENDING",
}
STATE_STATUS = {"cancellable": "READY_TO_SHIP", "cancelled": "CANCELLED", "shipped": "SHIPPED",
                "in_cancel": "IN_CANCEL"}
CANCEL_REASONS = {"OUT_OF_STOCK": "Out of Stock", "CUSTOMER_REQUEST": "Customer Request",
                  "UNDELIVERABLE_AREA": "Undeliverable Area", "COD_NOT_SUPPORTED": "COD Not Supported"}
TIMESTAMP_WINDOW_S = 300
MAX_ORDER_SN = 50
DEFAULT_RATE_LIMIT = (10.0, 20.0)
NOT_FOUND = "The information you queried is not found."
MISSING = {
    "partner_id": "There is no partner_id in query.", "timestamp": "There is no timestamp in query.",
    "sign": "There is no sign in query.", "access_token": "There is no access_token in query.",
    "shop_id": "There is no shop_id in query.",
}
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
    try:
        return ok_response(work())
    except Rejected as exc:
        return error_response(exc.code, exc.message)


def shop_sign(partner_key: str, text: str) -> str:
    return hmac.new(partner_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


class ShopeeEmulator(Emulator):
    """Shopee's order APIs for the shops and orders seeded through the control API."""

    platform = "shopee"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(DETAIL_PATH, self._get_order_detail),
            web.post(CANCEL_PATH, self._cancel_order),
            web.post(BUYER_CANCEL_PATH, self._handle_buyer_cancellation),
            web.post(REFRESH_PATH, self._refresh_access_token),
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
        status = str(spec.get("status") or STATE_STATUS[str(spec.get("state", "cancellable"))])
        if status not in STATUSES:
            raise ValueError(f"unknown Shopee order_status {status!r}")
        raw_items = spec.get("items") or _default_items(order_id)
        items = [_item(order_id, n, item) for n, item in enumerate(raw_items)]
        now = int(time.time())
        extra: dict[str, Any] = {"region": spec.get("region", "SG"), "currency": spec.get("currency", "SGD"),
                                 "create_time": now - 3600, "update_time": now, "cancel_by": "",
                                 "cancel_reason": "", "buyer_cancel_reason": ""}
        if status == "IN_CANCEL":
            extra.update(buyer_cancel_reason=spec.get("buyer_cancel_reason", "Need to change delivery address"),
                         status_before_cancel="READY_TO_SHIP")
        if status == "CANCELLED":
            extra.update(cancel_by=spec.get("cancel_by", "buyer"), cancel_reason="Need to modify order")
        return Order(platform=self.platform, shop=shop.ref, order_id=order_id, status=status, items=items,
                     extra=extra)

    def ship(self, order: Order) -> None:
        if order.status != "CANCELLED":
            order.status = "SHIPPED"
            order.extra["update_time"] = int(time.time())
            order.history.append("shipped")

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
            shop = self._authenticate(request)
        except Rejected as exc:
            return error_response(exc.code, exc.message)
        sns = [s.strip() for s in request.query.get("order_sn_list", "").split(",") if s.strip()]
        fields = {f.strip() for f in request.query.get("response_optional_fields", "").split(",")}
        orders = [o for o in (self.store.order(self.platform, sn) for sn in sns[:MAX_ORDER_SN])
                  if o is not None and o.shop == shop.ref]
        return await self.call(
            request, shop=shop, endpoint="get_order_detail", order=orders[0] if len(orders) == 1 else None,
            act=lambda: answer(lambda: _detail(sns, orders, fields)),
        )

    async def _cancel_order(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, "cancel_order", self._apply_cancel)

    async def _handle_buyer_cancellation(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, "handle_buyer_cancellation", self._apply_buyer_decision)

    async def _write(
        self,
        request: web.Request,
        endpoint: str,
        apply: Callable[[Order | None, Mapping[str, Any]], Mapping[str, Any]],
    ) -> web.StreamResponse:
        try:
            shop = self._authenticate(request)
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
            partner_id = self._authenticate_public(request)
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

    # --- the gateway's checks ---

    def _authenticate_public(self, request: web.Request) -> str:
        """A Public API call (auth/*): partner_id, timestamp and a sign without token or shop; the partner_id."""
        query = request.query
        for name in ("partner_id", "timestamp", "sign"):
            if not query.get(name):
                raise Rejected("error_param", MISSING[name])
        partner_id = query["partner_id"]
        partner_key = self._partner_key(partner_id, None)
        _check_timestamp(query["timestamp"])
        expected = shop_sign(partner_key, f"{partner_id}{request.path}{query['timestamp']}")
        if not hmac.compare_digest(expected, query["sign"]):
            raise Rejected("error_sign", "Wrong sign.")
        return partner_id

    def _authenticate(self, request: web.Request) -> Shop:
        query = request.query
        for name in ("partner_id", "timestamp", "sign", "access_token", "shop_id"):
            if not query.get(name):
                raise Rejected("error_param", MISSING[name])
        partner_id, shop_id, token = query["partner_id"], query["shop_id"], query["access_token"]
        shop = self.store.shops.get((self.platform, shop_id))
        partner_key = self._partner_key(partner_id, shop)
        _check_timestamp(query["timestamp"])
        expected = shop_sign(partner_key, f"{partner_id}{request.path}{query['timestamp']}{token}{shop_id}")
        if not hmac.compare_digest(expected, query["sign"]):
            raise Rejected("error_sign", "Wrong sign.")
        if shop is None or shop.creds["partner_id"] != partner_id:
            raise Rejected("error_auth", "Invalid partner_id or shopid.")
        if not shop.token_valid(token):
            raise Rejected("error_auth", "Invalid access_token.")
        return shop

    def _partner_key(self, partner_id: str, shop: Shop | None) -> str:
        if shop is not None and shop.creds["partner_id"] == partner_id:
            return shop.creds["partner_key"]
        for other in self.store.shops.values():
            if other.platform == self.platform and other.creds["partner_id"] == partner_id:
                return other.creds["partner_key"]
        raise Rejected("error_param", "Invalid partner_id.")

    # --- state changes ---

    def _apply_cancel(self, order: Order | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if not body.get("order_sn"):
            raise Rejected("error_param", "Wrong parameters, detail: order_sn is a required field.")
        reason = body.get("cancel_reason")
        if not reason:
            raise Rejected("error_param", "Wrong parameters, detail: cancel_reason is a required field.")
        if reason not in CANCEL_REASONS:
            raise Rejected("error_param", f"Wrong parameters, detail: cancel_reason {reason} is invalid.")
        if order is None:
            raise Rejected("error_param", NOT_FOUND)
        items = _checked_items(order, body.get("item_list"), required=reason == "OUT_OF_STOCK")
        if order.status not in CANCELLABLE:
            raise Rejected("order.error_limit", "Can not cancel this order.")
        if items:
            order.extra["out_of_stock_items"] = items
        _cancelled(order, by="seller", reason=CANCEL_REASONS[reason], event=f"cancel_order {reason}")
        return {"update_time": order.extra["update_time"]}

    def _apply_buyer_decision(self, order: Order | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if not body.get("order_sn"):
            raise Rejected("error_param", "Wrong parameters, detail: order_sn is a required field.")
        operation = body.get("operation")
        if operation not in ("ACCEPT", "REJECT"):
            raise Rejected("error_param", "Wrong parameters, detail: operation should be ACCEPT or REJECT.")
        if order is None:
            raise Rejected("error_param", NOT_FOUND)
        if order.status != "IN_CANCEL":
            raise Rejected("order.order_status_invalid", "Invalid order_status. The order status should be IN_CANCEL.")
        if operation == "ACCEPT":
            _cancelled(order, by="buyer", reason=order.extra.get("buyer_cancel_reason", ""),
                       event="handle_buyer_cancellation ACCEPT")
        else:
            order.status = order.extra.pop("status_before_cancel", "READY_TO_SHIP")
            order.extra["update_time"] = int(time.time())
            order.history.append("handle_buyer_cancellation REJECT")
        return {"order_status": order.status}


def _check_timestamp(raw: str) -> None:
    try:
        timestamp = int(raw)
    except ValueError:
        raise Rejected("error_param", "Invalid timestamp") from None
    drift_s = time.time() - timestamp
    if drift_s > TIMESTAMP_WINDOW_S:
        raise Rejected("error_param", "Timestamp is expired.")
    if drift_s < -TIMESTAMP_WINDOW_S:
        raise Rejected("error_param", "Invalid timestamp")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise Rejected("error_param", "Wrong parameters, detail: the body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Rejected("error_param", "Wrong parameters, detail: the body must be a JSON object.")
    return body


def _detail(sns: list[str], orders: list[Order], fields: set[str]) -> Mapping[str, Any]:
    if not sns:
        raise Rejected("error_param", "Wrong parameters, detail: order_sn_list is a required field.")
    if len(sns) > MAX_ORDER_SN:
        raise Rejected("error_param", f"Wrong parameters, detail: order_sn_list has at most {MAX_ORDER_SN} items.")
    if not orders:
        raise Rejected("error_param", NOT_FOUND)
    return {"order_list": [_order_view(order, fields) for order in orders]}


def _order_view(order: Order, fields: set[str]) -> dict[str, Any]:
    extra = order.extra
    view: dict[str, Any] = {
        "order_sn": order.order_id, "region": extra["region"], "currency": extra["currency"], "cod": False,
        "order_status": order.status, "create_time": extra["create_time"], "update_time": extra["update_time"],
        "days_to_ship": 3, "ship_by_date": extra["create_time"] + 3 * 86400, "message_to_seller": "",
    }
    if "item_list" in fields:
        view["item_list"] = [dict(item) for item in order.items]
    for name in ("cancel_by", "cancel_reason", "buyer_cancel_reason"):
        if name in fields:
            view[name] = extra.get(name, "")
    return view


def _checked_items(order: Order, items: Any, *, required: bool) -> list[dict[str, int]]:
    if not items:
        if required:
            raise Rejected("error_param", "Wrong parameters, detail: item_list is required when cancel_reason "
                                          "is OUT_OF_STOCK.")
        return []
    known = {(item["item_id"], item["model_id"]) for item in order.items}
    checked: list[dict[str, int]] = []
    for item in items if isinstance(items, list) else [items]:
        if not (isinstance(item, dict) and isinstance(item.get("item_id"), int)
                and isinstance(item.get("model_id"), int)):
            raise Rejected("error_param", "Wrong parameters, detail: item_list needs integer item_id and model_id.")
        if (item["item_id"], item["model_id"]) not in known:
            raise Rejected("error_param", f"Wrong parameters, detail: item_id {item['item_id']} model_id "
                                          f"{item['model_id']} is not in order {order.order_id}.")
        checked.append({"item_id": item["item_id"], "model_id": item["model_id"]})
    return checked


def _cancelled(order: Order, *, by: str, reason: str, event: str) -> None:
    order.status = "CANCELLED"
    order.extra.update(cancel_by=by, cancel_reason=reason, update_time=int(time.time()))
    order.extra.pop("status_before_cancel", None)
    order.cancels_applied += 1
    order.history.append(event)


def _default_items(order_id: str) -> list[dict[str, Any]]:
    seed = zlib.crc32(order_id.encode())
    return [{"item_id": 100_000_000 + seed % 900_000_000, "model_id": 0},
            {"item_id": 100_000_000 + (seed * 7 + 1) % 900_000_000, "model_id": 200_000_000 + seed % 100_000}]


def _item(order_id: str, n: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    item_id, model_id = int(spec["item_id"]), int(spec.get("model_id", 0))
    return {
        "item_id": item_id, "item_name": spec.get("item_name", f"Item {item_id}"),
        "item_sku": spec.get("item_sku", f"SKU-{item_id}"), "model_id": model_id,
        "model_name": spec.get("model_name", "" if model_id == 0 else f"Model {model_id}"),
        "model_sku": spec.get("model_sku", ""),
        "model_quantity_purchased": int(spec.get("model_quantity_purchased", 1)),
        "model_original_price": float(spec.get("model_original_price", 19.9)),
        "model_discounted_price": float(spec.get("model_discounted_price", 15.9)),
        "order_item_id": int(spec.get("order_item_id", item_id)), "promotion_group_id": 0,
        "weight": 0.2, "image_info": {"image_url": ""}, "line_no": n + 1,
    }
