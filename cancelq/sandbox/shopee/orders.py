"""Shopee orders: seeding, what get_order_detail shows, and what cancel_order and a buyer's request change."""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from typing import Any

from ..state import Order
from .answers import NOT_FOUND, Rejected

PLATFORM = "shopee"
CANCELLABLE = frozenset({"UNPAID", "READY_TO_SHIP", "PROCESSED", "RETRY_SHIP", "PENDING"})
STATUSES = CANCELLABLE | {
    "SHIPPED", "TO_CONFIRM_RECEIVE", "IN_CANCEL", "CANCELLED", "TO_RETURN", "COMPLETED", "INVOICE_PENDING",
}
STATE_STATUS = {"cancellable": "READY_TO_SHIP", "cancelled": "CANCELLED", "shipped": "SHIPPED",
                "in_cancel": "IN_CANCEL"}
CANCEL_REASONS = {"OUT_OF_STOCK": "Out of Stock", "CUSTOMER_REQUEST": "Customer Request",
                  "UNDELIVERABLE_AREA": "Undeliverable Area", "COD_NOT_SUPPORTED": "COD Not Supported"}
MAX_ORDER_SN = 50


def seed(shop_ref: str, order_id: str, spec: Mapping[str, Any]) -> Order:
    """An order of the shop from a control-API spec (``state`` or an ``order_status``, items...)."""
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
        extra.update(cancel_by=spec.get("cancel_by", "buyer"), cancel_reason="Need to modify order",
                     update_time=now - 600)
    if spec.get("cancel_pending"):
        extra["cancel_pending"] = True
    return Order(platform=PLATFORM, shop=shop_ref, order_id=order_id, status=status, items=items, extra=extra)


def ship(order: Order) -> None:
    if order.status != "CANCELLED":
        order.status = "SHIPPED"
        order.extra["update_time"] = int(time.time())
        order.history.append("shipped")


def cancel_elsewhere(order: Order) -> None:
    if order.status != "CANCELLED":
        order.status = "CANCELLED"
        order.extra.update(cancel_by="seller", cancel_reason="Out of stock", update_time=int(time.time()))
        order.extra.pop("status_before_cancel", None)
        order.history.append("seller_center_cancel")


def buyer_cancel(order: Order, spec: Mapping[str, Any]) -> None:
    """The buyer asks to cancel: the order goes IN_CANCEL with ``buyer_cancel_reason`` until the seller decides
    (handle_buyer_cancellation); an UNPAID order the buyer cancels outright, with no request."""
    if order.status == "IN_CANCEL":
        raise ValueError(f"order {order.order_id} already has a buyer cancellation request pending")
    if order.status not in CANCELLABLE - {"UNPAID"}:
        raise ValueError(f"order {order.order_id} is {order.status}: a buyer can ask to cancel only a paid order "
                         "before it ships")
    order.extra.update(status_before_cancel=order.status, update_time=int(time.time()),
                       buyer_cancel_reason=str(spec.get("reason") or "Need to change delivery address"))
    order.status = "IN_CANCEL"
    order.history.append("buyer_cancel_request")


def detail(sns: list[str], orders: list[Order], fields: set[str]) -> Mapping[str, Any]:
    """get_order_detail's response: the orders found among ``sns``, with the optional ``fields`` asked for."""
    if not sns:
        raise Rejected("error_param", "Wrong parameters, detail: order_sn_list is a required field.")
    if len(sns) > MAX_ORDER_SN:
        raise Rejected("error_param", f"Wrong parameters, detail: order_sn_list has at most {MAX_ORDER_SN} items.")
    if not orders:
        raise Rejected("error_param", NOT_FOUND)
    return {"order_list": [_order_view(order, fields) for order in orders]}


def apply_cancel(order: Order | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """cancel_order: parameters first, then the order's state."""
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
    if order.extra.pop("cancel_pending", False):  # seeded so: the platform confirms later (confirm_cancel)
        order.status = "IN_CANCEL"
        order.history.append("awaiting the platform's confirmation")
    return {"update_time": order.extra["update_time"]}


def confirm_cancel(order: Order) -> None:
    """The platform confirms a cancel it left IN_CANCEL."""
    if order.status != "IN_CANCEL" or order.extra.get("cancel_by") != "seller":
        raise ValueError(f"order {order.order_id} is {order.status}, not a seller's cancel awaiting confirmation")
    order.status = "CANCELLED"
    order.extra["update_time"] = int(time.time())
    order.history.append("cancel confirmed")


def apply_buyer_decision(order: Order | None, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """handle_buyer_cancellation: ACCEPT cancels an IN_CANCEL order, REJECT puts back its earlier status."""
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
