"""Our normalised cancel reasons, and how each platform names them.

Shopee takes a fixed code; Shopline and Shoplazza take free text; Lazada offers
per-order ``reason_options`` whose ids and names differ by country, so we match
by meaning (keywords in several of its languages) rather than by a fixed id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum


class Reason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    UNDELIVERABLE_AREA = "UNDELIVERABLE_AREA"
    COD_NOT_SUPPORTED = "COD_NOT_SUPPORTED"
    PRICING_ERROR = "PRICING_ERROR"
    SOURCING_DELAY = "SOURCING_DELAY"
    OTHER = "OTHER"


class UnmappableReason(ValueError):
    """The platform has no way to say this reason; raised before any write call."""


SHOPEE_REASONS: Mapping[Reason, str] = {
    Reason.OUT_OF_STOCK: "OUT_OF_STOCK",
    Reason.CUSTOMER_REQUEST: "CUSTOMER_REQUEST",
    Reason.UNDELIVERABLE_AREA: "UNDELIVERABLE_AREA",
    Reason.COD_NOT_SUPPORTED: "COD_NOT_SUPPORTED",
}

TEXT_REASONS: Mapping[Reason, str] = {
    Reason.OUT_OF_STOCK: "Out of stock",
    Reason.CUSTOMER_REQUEST: "Customer request",
    Reason.UNDELIVERABLE_AREA: "Undeliverable area",
    Reason.COD_NOT_SUPPORTED: "Cash on delivery not supported",
    Reason.PRICING_ERROR: "Pricing error",
    Reason.SOURCING_DELAY: "Sourcing delay",
    Reason.OTHER: "Other",
}

LAZADA_KEYWORDS: Mapping[Reason, tuple[str, ...]] = {
    Reason.OUT_OF_STOCK: (
        "out of stock", "out-of-stock", "hết hàng", "stok habis", "kehabisan stok", "สินค้าหมด", "缺货",
    ),
    Reason.PRICING_ERROR: ("wrong price", "pricing error", "incorrect pric", "sai giá", "harga salah", "ราคาผิด"),
    Reason.SOURCING_DELAY: ("sourcing delay", "chậm nguồn hàng", "keterlambatan", "ล่าช้า"),
    Reason.CUSTOMER_REQUEST: ("customer request", "buyer request", "customer asked", "yêu cầu của khách"),
    Reason.UNDELIVERABLE_AREA: ("undeliverable", "cannot deliver", "unable to deliver", "không giao được"),
    Reason.COD_NOT_SUPPORTED: ("cod not", "cash on delivery"),
    Reason.OTHER: ("other", "khác", "lainnya", "อื่นๆ"),
}


def shopee_reason(reason: Reason) -> str:
    try:
        return SHOPEE_REASONS[reason]
    except KeyError:
        supported = ", ".join(SHOPEE_REASONS)
        raise UnmappableReason(f"Shopee has no cancel reason for {reason.value}; use one of {supported}") from None


def text_reason(reason: Reason, note: str = "") -> str:
    """Free-text reason for Shopline and Shoplazza: the note wins for OTHER, else it is appended."""
    base = TEXT_REASONS[reason]
    if not note:
        return base
    return note if reason is Reason.OTHER else f"{base}: {note}"


def lazada_reason_id(reason: Reason, options: Sequence[Mapping[str, str]]) -> str:
    """Pick the ``reason_id`` whose ``reason_name`` means ``reason``, from a validate answer's options."""
    for keyword in LAZADA_KEYWORDS[reason]:
        for option in options:
            if keyword in str(option.get("reason_name", "")).casefold():
                return str(option["reason_id"])
    names = ", ".join(repr(o.get("reason_name")) for o in options) or "none"
    raise UnmappableReason(f"Lazada offers no reason meaning {reason.value} for this order (offered: {names})")


def parse_reason(text: str) -> Reason:
    """A reason read loosely: case, surrounding spaces, and ``-``, ``_`` or spaces between words do not matter
    (``out of stock``, ``Out-Of-Stock`` and ``OUT_OF_STOCK`` are one reason); ValueError names the choices."""
    key = "_".join(str(text).replace("-", " ").replace("_", " ").split()).upper()
    try:
        return Reason(key)
    except ValueError:
        raise ValueError(f"unknown reason {text!r}; use one of {', '.join(r.value for r in Reason)}") from None
