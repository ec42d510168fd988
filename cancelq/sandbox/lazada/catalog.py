"""What Lazada's answers are made of: item states, per-country reasons, tips and error defaults."""

from __future__ import annotations

from collections.abc import Mapping

CANCELLABLE = frozenset({"pending", "packed", "ready_to_ship", "repacked"})
PACKED = frozenset({"packed", "ready_to_ship", "repacked"})
PACKAGED = frozenset({"packed", "ready_to_ship", "repacked", "shipped", "delivered"})
AWAITING = "CANCEL_INIT"
"""A buyer's reverse order (cancellation request) waiting for the seller's decision."""
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
    "105": ("ISV", "E0105: reverse order id is empty or invalid"),
    "131": ("ISV", "E0131: no decision for this reverse order"),
}
ISP_CODES = frozenset({"4136", "4137", "UnknownRuntimeException", "BIZ_DEGRADATION_ERROR"})


def reason_options(country: str) -> list[dict[str, str]]:
    names = REASON_NAMES.get(country, _EN)
    base = COUNTRY_ID_BASE.get(country, COUNTRY_ID_BASE["sg"])
    return [{"reason_name": name, "reason_id": str(base + 19 + 2 * n)} for n, name in enumerate(names)]


def reason_role(country: str, reason_id: str) -> str | None:
    """What a reason id means (``out_of_stock``...), whatever the country's language; None if unknown."""
    for n, option in enumerate(reason_options(country)):
        if option["reason_id"] == reason_id:
            return ROLES[n]
    return None


def reason_name(country: str, reason_id: str) -> str:
    return next(o["reason_name"] for o in reason_options(country) if o["reason_id"] == reason_id)
