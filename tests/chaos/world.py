"""The chaos run's world: two or more shops per platform (derived from the kits), orders, standing faults."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.state import default_refresh_token
from cancelq.shops.registry import ShopRegistry

from ..kits import Kit
from ..kits.lazada import KIT as LAZADA
from ..kits.shopee import KIT as SHOPEE
from ..kits.shoplazza import KIT as SHOPLAZZA
from ..kits.shopline import KIT as SHOPLINE

KITS: dict[str, Kit] = {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}
SHARE = {"shopee": 0.35, "lazada": 0.30, "shopline": 0.20, "shoplazza": 0.15}
PREFIX = {"shopee": "SPE", "lazada": "LZD", "shopline": "SLN", "shoplazza": "SLZ"}
REASONS: dict[str, tuple[str, ...]] = {
    "shopee": ("CUSTOMER_REQUEST", "UNDELIVERABLE_AREA", "COD_NOT_SUPPORTED"),
    "lazada": ("OUT_OF_STOCK", "PRICING_ERROR", "CUSTOMER_REQUEST", "SOURCING_DELAY"),
    "shopline": ("CUSTOMER_REQUEST", "OUT_OF_STOCK", "PRICING_ERROR", "OTHER"),
    "shoplazza": ("CUSTOMER_REQUEST", "SOURCING_DELAY", "OTHER"),
}
LIMITS = {"rate_per_s": 500, "burst": 200}
"""The fleet limiter out of the way: the platforms' 429s and bans come from scripted faults."""
INVALID_SOURCE = "chaos-invalid"
"""The ``source`` of every deliberately invalid job: those, and only those, may end rejected."""


@dataclass(frozen=True)
class ChaosShop:
    platform: str
    name: str
    """The registry name jobs use."""
    ref: str
    """The platform's own id for the shop (what the sandbox and its faults name)."""
    sandbox_spec: Mapping[str, Any]
    credentials: Mapping[str, Any]


@dataclass(frozen=True)
class Order:
    platform: str
    shop: ChaosShop
    order_id: str
    state: str
    """The seeded state: cancellable, cancelled, shipped, in_cancel (Shopee: the buyer asked)."""
    reason: str
    decoy: bool = False
    """Seeded but never submitted: nothing may touch it."""

    @property
    def key(self) -> tuple[str, str]:
        return self.platform, self.order_id

    def job(self) -> dict[str, Any]:
        return {"platform": self.platform, "shop": self.shop.name, "order_id": self.order_id, "reason": self.reason,
                "note": "chaos", "source": "chaos"}

    def row(self) -> dict[str, str]:
        return {"platform": self.platform, "shop": self.shop.name, "order_id": self.order_id, "reason": self.reason,
                "note": "chaos campaign"}


def _variant(kit: Kit, n: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The kit's shop as seller ``n`` of the same app: (ref, sandbox spec, registry credentials)."""
    spec, creds = dict(kit.shop_spec), dict(kit.credentials)
    token = f"{creds['access_token']}-chaos{n}"
    if kit.platform == "shopee":
        ref = str(int(spec["shop_id"]) + n)
        spec.update(shop_id=int(ref), access_token=token)
        creds.update(shop_id=int(ref), access_token=token)
    elif kit.platform == "lazada":
        ref = str(int(spec["seller_id"]) + n)
        country = "sg" if n % 2 == 0 else "vn"
        spec.update(seller_id=ref, access_token=token, country=country)
        creds.update(access_token=token, country=country)
    else:
        field = "handle" if kit.platform == "shopline" else "shop"
        ref = f"{spec[field]}-{n}"
        spec.update({field: ref, "access_token": token})
        creds.update({field: ref, "access_token": token})
    if kit.platform != "shopline":  # SHOPLINE refreshes by signature, without a refresh token
        creds["refresh_token"] = default_refresh_token(kit.platform, ref)
    return ref, spec, creds


def make_shops(per_platform: int) -> list[ChaosShop]:
    shops = []
    for platform, kit in KITS.items():
        for n in range(per_platform):
            ref, spec, creds = _variant(kit, n)
            shops.append(ChaosShop(platform, f"chaos-{platform}-{n + 1}", ref, spec, creds))
    return shops


def register(shops: list[ChaosShop], sandbox: SandboxClient, registry: ShopRegistry, sandbox_url: str) -> None:
    for shop in shops:
        sandbox.add_shop(shop.platform, **shop.sandbox_spec)
        registry.add(shop.platform, shop.name, dict(shop.credentials), base_url=sandbox_url,
                     limits={**LIMITS, "per_api": shop.platform == "lazada"})


def _state(platform: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return "shipped"
    if roll < 0.08:
        return "cancelled"
    if platform == "shopee" and roll < 0.10:
        return "in_cancel"
    return "cancellable"


def make_orders(total: int, shops: list[ChaosShop], rng: random.Random, *, decoys: int) -> list[Order]:
    """``total`` orders by platform share over the platform's shops, shuffled, plus ``decoys`` never submitted."""
    by_platform: dict[str, list[ChaosShop]] = {}
    for shop in shops:
        by_platform.setdefault(shop.platform, []).append(shop)
    orders = []
    for platform, share in SHARE.items():
        count = max(4, round(total * share))
        for i in range(count + decoys):
            shop = by_platform[platform][i % len(by_platform[platform])]
            orders.append(Order(platform, shop, f"CHAOS-{PREFIX[platform]}-{i:05d}", _state(platform, rng),
                                rng.choice(REASONS[platform]), decoy=i >= count))
    rng.shuffle(orders)
    return orders


def seed(sandbox: SandboxClient, orders: list[Order]) -> None:
    specs = [{"platform": o.platform, "shop": o.shop.ref, "order_id": o.order_id, "state": o.state} for o in orders]
    for i in range(0, len(specs), 1000):
        sandbox.add_orders(specs[i:i + 1000])


def invalid_jobs(shops: list[ChaosShop]) -> list[dict[str, Any]]:
    """Jobs that intake must reject: an unknown shop, a reason Shopee cannot say, a reason nobody knows."""
    shopee, shopline = (next(s for s in shops if s.platform == p) for p in ("shopee", "shopline"))
    base = {"source": INVALID_SOURCE, "note": "chaos invalid"}
    return [
        {**base, "platform": "lazada", "shop": "no-such-shop", "order_id": "BAD-1", "reason": "OUT_OF_STOCK"},
        {**base, "platform": "shopee", "shop": shopee.name, "order_id": "BAD-2", "reason": "PRICING_ERROR"},
        {**base, "platform": "shopline", "shop": shopline.name, "order_id": "BAD-3", "reason": "NOT_A_REASON"},
    ]


def write_campaign(path: Path, orders: list[Order], invalid_rows: int) -> Path:
    """A campaign CSV of the orders, plus ``invalid_rows`` rows naming a shop that does not exist."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["platform", "shop", "order_id", "reason", "note"])
        writer.writeheader()
        for n, order in enumerate(orders):
            writer.writerow(order.row())
            if n < invalid_rows:
                writer.writerow({**order.row(), "shop": "chaos-unknown-shop", "order_id": f"{order.order_id}-X"})
    return path


def standing_faults(sandbox: SandboxClient, scale: float) -> None:
    """The faults platforms produce all day, at rates in the range we see in production logs."""
    def fault(platform: str, kind: str, p: float, **spec: Any) -> None:
        sandbox.fault(platform, kind, probability=min(1.0, p * scale), times=None, **spec)

    fault("shopee", "error", 0.05, endpoint="cancel_order", code="error_server")
    fault("shopee", "error", 0.03, endpoint="cancel_order", code="error_network",
          message="Inner http call failed", after_write=True)
    fault("shopee", "drop", 0.01, endpoint="cancel_order", after_write=True)
    fault("shopee", "error", 0.02, endpoint="get_order_detail", code="error_server")
    fault("lazada", "error", 0.03, endpoint="GetOrderItems", code="6")
    fault("lazada", "error", 0.02, endpoint="InitReverseOrderCancel", code="6")
    fault("lazada", "drop", 0.02, endpoint="InitReverseOrderCancel", after_write=True)
    fault("lazada", "ship", 0.01, endpoint="OrderCancelValidate", after_write=True)
    fault("shopline", "error", 0.03, endpoint="cancel_order", http_status=503)
    fault("shopline", "hang", 0.02, endpoint="cancel_order", after_write=True, hang_s=1.5)
    fault("shopline", "error", 0.02, endpoint="get_order", http_status=500)
    fault("shoplazza", "error", 0.04, endpoint="cancel_order", http_status=500)
    fault("shoplazza", "drop", 0.02, endpoint="cancel_order", after_write=True)
    fault("shoplazza", "html", 0.01, endpoint="get_order")
    trickled(sandbox, scale)


TRICKLE: dict[str, dict[str, Any]] = {
    "shopee": {"after_write": True},
    "lazada": {"after_write": False},
    "shopline": {"after_write": True, "trickle_headers": False},
    "shoplazza": {"after_write": False},
}
"""Each platform's trickled write answers: after the write (the real answer, slowly) or before it (the error)."""
TRICKLE_PACE = {"trickle_bytes": 1, "trickle_ms": 150}
"""7 bytes a second, each piece within the read timeout: a status line and headers alone (about 150 bytes), or
SHOPLINE's body (the whole order), take far longer than the workers' lease, so only the call's total deadline
(half the lease) ends the call."""


def trickled(sandbox: SandboxClient, scale: float, probability: float = 0.03) -> None:
    """Write answers trickled past the lease, on every platform's write endpoint."""
    for platform, spec in TRICKLE.items():
        sandbox.fault(platform, "trickle", endpoint=KITS[platform].write_endpoint, times=None,
                      probability=min(1.0, probability * scale), **TRICKLE_PACE, **spec)


def slow_writes(sandbox: SandboxClient, latency_ms: int) -> list[int]:
    """Every write endpoint answers ``latency_ms`` late (the write applied after the wait), until removed."""
    return [int(sandbox.fault(platform, "latency", endpoint=kit.write_endpoint, latency_ms=latency_ms,
                              times=None)["id"]) for platform, kit in KITS.items()]


BURSTS: dict[str, dict[str, Any]] = {
    "lazada": {"kind": "error", "endpoint": "OrderCancelValidate", "code": "ApiCallLimit", "ban_s": 1},
    "shopline": {"kind": "error", "endpoint": "cancel_order", "http_status": 429, "retry_after_s": 1},
    "shopee": {"kind": "error", "endpoint": "cancel_order", "code": "error_rate_limit"},
    "shoplazza": {"kind": "error", "endpoint": "cancel_order", "http_status": 429, "retry_after_s": 1},
}
"""A platform's slow-down burst: the next ``times`` matching calls answer 429 or a ban."""


def burst(sandbox: SandboxClient, platform: str, times: int) -> None:
    spec = dict(BURSTS[platform])
    sandbox.fault(platform, spec.pop("kind"), times=times, **spec)
