"""The sandbox's world: shops, orders and what was asked of them. In memory, one process."""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from .faults import FaultBook


@dataclass
class Shop:
    """A seller's shop as the platform knows it. ``ref`` is the platform's own id (shop_id, handle...)."""

    platform: str
    ref: str
    creds: dict[str, str]
    token_expires_at: float | None = None
    rate_limit: tuple[float, float] | None = None
    refreshes: int = 0
    """Successful token refreshes (each one replaced the access token)."""
    refresh_valid: bool = True
    """False once the control API killed the refresh grant: every refresh then needs re-authorisation."""
    token_issued_at: float = field(default_factory=time.time)

    def token_valid(self, token: str | None, now: float | None = None) -> bool:
        if not token or token != self.creds.get("access_token"):
            return False
        return self.token_expires_at is None or (now or time.time()) < self.token_expires_at

    def refreshed(self, *, access_token: str, lifetime_s: float, refresh_token: str | None = None) -> None:
        """A refresh took effect: the new token replaces the old one at once and expires ``lifetime_s`` from now."""
        now = time.time()
        self.creds["access_token"] = access_token
        if refresh_token is not None:
            self.creds["refresh_token"] = refresh_token
        self.token_issued_at = now
        self.token_expires_at = now + lifetime_s
        self.refreshes += 1

    def view(self) -> dict[str, Any]:
        """The shop's token state for the control API: no secret, no token."""
        return {
            "platform": self.platform,
            "ref": self.ref,
            "refreshes": self.refreshes,
            "token_expires_at": self.token_expires_at,
            "refresh_valid": self.refresh_valid,
        }


def default_refresh_token(platform: str, ref: str) -> str:
    """The refresh token a shop seeded without one gets: derived from its ref, so that tests can know it."""
    return hashlib.sha256(f"sandbox-refresh:{platform}:{ref}".encode()).hexdigest()[:32]


@dataclass
class Order:
    """An order in a platform's own vocabulary: ``status`` and ``items`` are platform-shaped."""

    platform: str
    shop: str
    order_id: str
    status: str
    items: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    cancels_applied: int = 0
    history: list[str] = field(default_factory=list)

    def fingerprint(self) -> tuple[str, ...]:
        """What a push tells of: the status, the fulfilment status and each item's status. ``Store.changed`` is
        called when it differs after a write."""
        items = tuple(str(item.get("status", "")) for item in self.items)
        return (self.status, str(self.extra.get("fulfillment_status", "")), *items)

    def view(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "shop": self.shop,
            "order_id": self.order_id,
            "status": self.status,
            "items": self.items,
            "extra": self.extra,
            "calls": dict(self.calls),
            "cancels_applied": self.cancels_applied,
            "history": self.history,
        }


CHANGE_KINDS = ("status", "buyer_request")
"""``status``: the order's status changed (an API cancel, a ship, a seller-center cancel, an accepted buyer
request); ``buyer_request``: a buyer asked to cancel (Shopee IN_CANCEL, Lazada CANCEL_INIT)."""


class Listener(Protocol):
    """Told of every order change (``sandbox.pushes.Pusher``); ``reset`` with the store."""

    def changed(self, order: Order, kind: str) -> None: ...

    def reset(self) -> None: ...


class Store:
    """Everything the sandbox remembers; reset between tests through the control API (listeners stay, reset)."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = getattr(self, "listeners", [])
        self.shops: dict[tuple[str, str], Shop] = {}
        self.orders: dict[tuple[str, str], Order] = {}
        self.faults = FaultBook()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.per_second: defaultdict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self.rate_limits_on = False
        self.buckets: dict[tuple[str, str, str], tuple[float, float]] = {}
        self.lost_pushes: list[dict[str, Any]] = []
        """Shopee pushes whose every delivery attempt failed (``sandbox.pushes``): what
        ``v2.push.get_lost_push_message`` lists until ``confirm_consumed_lost_push_message``."""

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]
        for listener in self.listeners:
            listener.reset()

    def changed(self, order: Order, kind: str = "status") -> None:
        """The one hook every order change goes through, after the change is made: the platform pushes it.

        ``Emulator.call`` calls it when a write changed the order's ``fingerprint``, and so do the control API's
        ship and seller-center cancel; an endpoint that changes an order outside those (a buyer's cancel
        request) calls it itself with its ``kind``. It never waits for a delivery: listeners queue their work."""
        if kind not in CHANGE_KINDS:
            raise ValueError(f"order change kind {kind!r} is not one of {', '.join(CHANGE_KINDS)}")
        for listener in self.listeners:
            listener.changed(order, kind)

    def add_shop(self, shop: Shop) -> None:
        self.shops[(shop.platform, shop.ref)] = shop

    def shop_by_token(self, platform: str, token: str | None) -> Shop | None:
        for shop in self.shops.values():
            if shop.platform == platform and token and shop.creds.get("access_token") == token:
                return shop
        return None

    def order(self, platform: str, order_id: str) -> Order | None:
        return self.orders.get((platform, order_id))

    def record(self, platform: str, shop: str, endpoint: str, order: Order | None) -> None:
        self.calls[(platform, endpoint)] += 1
        self.per_second[(platform, shop)][int(time.time())] += 1
        if order is not None:
            order.calls[endpoint] += 1

    def over_limit(self, platform: str, shop: Shop, api: str) -> bool:
        """A leaky bucket per (platform, shop, scope) when limits are switched on."""
        if not self.rate_limits_on or shop.rate_limit is None:
            return False
        rate_per_s, burst = shop.rate_limit
        key = (platform, shop.ref, api)
        now = time.monotonic()
        level, last = self.buckets.get(key, (0.0, now))
        level = max(0.0, level - (now - last) * rate_per_s)
        if level + 1 > burst:
            self.buckets[key] = (level, now)
            return True
        self.buckets[key] = (level + 1, now)
        return False

    def stats(self) -> dict[str, Any]:
        calls: dict[str, dict[str, int]] = defaultdict(dict)
        for (platform, endpoint), n in self.calls.items():
            calls[platform][endpoint] = n
        return {
            "calls": calls,
            "max_per_second": {f"{p}/{s}": max(c.values()) for (p, s), c in self.per_second.items() if c},
            "per_second": {f"{p}/{s}": {str(k): v for k, v in sorted(c.items())}
                           for (p, s), c in self.per_second.items()},
            "orders": len(self.orders),
            "cancels_applied": sum(o.cancels_applied for o in self.orders.values()),
            "cancelled_twice": sorted(f"{o.platform}/{o.order_id}" for o in self.orders.values()
                                      if o.cancels_applied > 1),
            "faults_pending": self.faults.pending(),
        }
