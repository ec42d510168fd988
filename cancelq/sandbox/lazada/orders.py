"""Lazada's order items: seeding, what validate and create see, and what a cancel does to a package."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..state import Order
from .catalog import AWAITING, CANCELLABLE, CURRENCIES, PACKAGED, PACKED, STATES, STOCK_ZEROING_ROLES, reason_name


def seed_status(spec: Mapping[str, Any]) -> str:
    if spec.get("status"):
        return str(spec["status"])
    state = str(spec.get("state") or "cancellable")
    if state not in STATES:
        raise ValueError(f"Lazada orders have no state {state!r}; expected one of {', '.join(STATES)}")
    return STATES[state]


def new_item(order_id: str, n: int, status: str, country: str, row: dict[str, Any]) -> dict[str, Any]:
    """Item ``n`` of a seeded order, as GetOrderItems shows it; ``row`` overrides any field."""
    base = int(order_id) if order_id.isdigit() else zlib.crc32(order_id.encode())
    item_status = str(row.get("status") or status)
    now = _now()
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


def ship(order: Order) -> None:
    for reverse in order.extra.get("reverse_orders", {}).values():
        if reverse["status"] == AWAITING:
            reverse["status"] = "CANCEL_CLOSED"  # a shipped order's cancellation request lapses
    for item in order.items:
        item.update(is_cancel_pending=False, need_cancel_confirm=False)
        if item["status"] != "canceled":
            item["status"] = "shipped"
            item["tracking_code"] = item.get("tracking_code") or f"LZSB{item['order_item_id']}"
            item["package_id"] = item.get("package_id") or f"FP{order.order_id}01"
    order.history.append("shipped")
    sync_status(order)


def parse_ids(text: str) -> list[int]:
    """``order_item_id_list`` (a JSON list of ids); empty when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if not isinstance(value, list) or not all(str(v).isdigit() and not isinstance(v, bool) for v in value):
        return []
    return [int(v) for v in value]


def refusal(blocked: list[dict[str, Any]]) -> str:
    listed = ", ".join(f"{i['order_item_id']} ({i['status']})" for i in blocked)
    return f"Only order items with the Pending ~ Ready To Ship status can be cancelled: {listed}"


def requested(lines: list[dict[str, Any]]) -> str:
    """The refusal of a seller cancel of items the buyer asked to cancel ("" when none is)."""
    pending = sorted({str(i["reverse_order_id"]) for i in lines if i.get("need_cancel_confirm")})
    if not pending:
        return ""
    return f"The buyer has requested to cancel these items: agree or refuse reverse order {', '.join(pending)}"


def package_mates(order: Order, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cancellable items sharing a package with a packed line: a cancel takes them too."""
    packages = {i["package_id"] for i in lines if i["status"] in PACKED and i.get("package_id")}
    named = {id(i) for i in lines}
    return [i for i in order.items if i.get("package_id") in packages and id(i) not in named
            and i["status"] in CANCELLABLE]


def spill_note(order: Order, lines: list[dict[str, Any]]) -> str:
    mates = package_mates(order, lines)
    if not mates:
        return ""
    ids = [i["order_item_id"] for i in mates]
    return f" Other order items in the same package will also be cancelled: {ids}."


def cancel(order: Order, lines: list[dict[str, Any]], role: str, reason_id: str) -> None:
    affected = lines + package_mates(order, lines)
    name = reason_name(order.extra.get("country", "sg"), reason_id)
    now = _now()
    for item in affected:
        item.update(status="canceled", reason=name, cancel_return_initiator="cancellation-seller",
                    reverse_order_id=str(int(item["order_item_id"]) + 7), updated_at=now)
        if role in STOCK_ZEROING_ROLES:
            order.extra["stock_zeroed"].append(item["sku"])
    order.cancels_applied += 1
    order.history.append(f"InitReverseOrderCancel {[i['order_item_id'] for i in affected]} reason_id={reason_id}")
    sync_status(order)


def cancel_elsewhere(order: Order) -> None:
    now = _now()
    for item in order.items:
        if item["status"] in CANCELLABLE:
            item.update(status="canceled", reason="Out of stock", cancel_return_initiator="cancellation-seller",
                        reverse_order_id=str(int(item["order_item_id"]) + 7), updated_at=now)
    order.history.append("seller_center_cancel")
    sync_status(order)


def buyer_cancel(order: Order, spec: Mapping[str, Any]) -> str:
    """The buyer asks to cancel items (``order_item_ids``, default every cancellable one): they go to a new
    reverse order in ``CANCEL_INIT``, flagged ``need_cancel_confirm`` until the seller decides. Its id."""
    wanted = [int(i) for i in spec.get("order_item_ids") or []]
    lines = [i for i in order.items if (int(i["order_item_id"]) in wanted if wanted else True)
             and i["status"] in CANCELLABLE and not i["need_cancel_confirm"]]
    if not lines or (wanted and len(lines) < len(set(wanted))):
        raise ValueError(f"order {order.order_id}: a buyer can ask to cancel only items before shipping with no "
                         "request pending")
    reverses = order.extra.setdefault("reverse_orders", {})
    reverse_id = str(int(lines[0]["order_item_id"]) * 10 + 1 + len(reverses))
    reason = str(spec.get("reason") or "Change of mind")
    for item in lines:
        item.update(is_cancel_pending=True, need_cancel_confirm=True, reverse_order_id=reverse_id, reason=reason,
                    cancel_return_initiator="cancellation-customer", updated_at=_now())
    reverses[reverse_id] = {"status": AWAITING, "order_item_ids": [int(i["order_item_id"]) for i in lines],
                            "reason": reason}
    order.history.append(f"buyer_cancel_request {reverse_id}")
    return reverse_id


def decide(order: Order, reverse_id: str, agree: bool) -> None:
    """The seller's decision on a reverse order awaiting it: agreeing cancels its items (once); refusing puts
    them back as they were."""
    reverse = order.extra["reverse_orders"][reverse_id]
    lines = [i for i in order.items if int(i["order_item_id"]) in reverse["order_item_ids"]]
    for item in lines:
        item.update(is_cancel_pending=False, need_cancel_confirm=False, updated_at=_now())
        if agree:
            item["status"] = "canceled"
        else:
            item.update(reason="", cancel_return_initiator="")
    reverse["status"] = "CANCEL_SUCCESS" if agree else "CANCEL_REFUSED"
    if agree:
        order.cancels_applied += 1
    order.history.append(f"InitReverseOrderCancelDecide {reverse_id} agree_cancel={str(agree).lower()}")
    sync_status(order)


def awaiting(order: Order, reverse_id: str) -> bool:
    reverse = order.extra.get("reverse_orders", {}).get(reverse_id)
    return reverse is not None and reverse["status"] == AWAITING


def sync_status(order: Order) -> None:
    """The order's status as GetOrders shows it: the items' one status, or the mix of them."""
    statuses = sorted({str(i["status"]) for i in order.items})
    order.status = statuses[0] if len(statuses) == 1 else ",".join(statuses)


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S +0800")
