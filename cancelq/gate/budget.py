"""A shop's cancellation budget: at most ``max`` seller-initiated cancels per rolling ``window_s``.

Sellers are penalised for cancelling too much (Lazada: "high cancellation rate may lead to daily order volume
limit"; the platforms do not publish their exact rules), and a campaign can cancel thousands of orders in
minutes. Off unless set, per shop (``cancelq shops set-budget``) or per platform (``cancel_budgets``).

The budget is taken in the same gate script call that lets the write go (``lua/gate.lua``): a sorted set per
shop holds the jobs whose cancel was let go, scored by when, so a fleet cannot overshoot it and a job's retry
does not count twice. A write over budget is held (``why`` "budget") until the oldest cancel leaves the
window, an operator raises the budget, or approves more (``approve``: that many writes may pass the budget).
Which reasons count is configurable; CUSTOMER_REQUEST, and accepting a buyer's own request (Shopee
``handle_buyer_cancellation``), do not count by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys

COUNTED_REASONS = ("OUT_OF_STOCK", "UNDELIVERABLE_AREA", "COD_NOT_SUPPORTED", "PRICING_ERROR", "SOURCING_DELAY",
                   "OTHER")
"""Seller-initiated reasons, counted by default; CUSTOMER_REQUEST is the buyer's wish, not the seller's fault."""
BUYER_APIS = frozenset({"handle_buyer_cancellation"})
"""Writes that accept the buyer's own request: never counted."""


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class Budget:
    """``max`` cancels per ``window_s`` for ``shop`` (``platform/name``); ``reasons`` are those that count."""

    shop: str
    max: int
    window_s: float
    reasons: frozenset[str] = frozenset(COUNTED_REASONS)

    @classmethod
    def parse(cls, shop: str, raw: Mapping[str, Any]) -> Budget:
        try:
            budget = cls(shop, int(raw["max"]), float(raw["per_s"]), frozenset(raw.get("reasons") or COUNTED_REASONS))
        except (KeyError, TypeError, ValueError):
            raise BudgetError(f"a budget is {{max: N, per_s: SECONDS[, reasons: [...]]}}, got {raw!r}") from None
        if budget.max < 0 or budget.window_s <= 0:
            raise BudgetError("a budget needs max >= 0 and a window of more than 0 seconds")
        return budget

    def to_dict(self) -> dict[str, Any]:
        return {"max": self.max, "per_s": self.window_s, "reasons": sorted(self.reasons)}

    def counts(self, reason: str) -> bool:
        return reason in self.reasons

    @property
    def key(self) -> str:
        return keys.budget(self.shop)

    @property
    def approve_field(self) -> str:
        return keys.budget_approve_field(self.shop)


def parse_window(text: str) -> float:
    """``24h``, ``90m``, ``3600s``, ``1d`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise BudgetError(f"a window is like 24h, 90m, 3600s or 1d, not {text!r}") from None


@dataclass(frozen=True)
class Usage:
    """A budget's state now: cancels in the window, approved extra writes, and room left."""

    used: int
    approved: int
    budget: Budget

    @property
    def room(self) -> int:
        return max(0, self.budget.max - self.used) + self.approved


def usage(client: redis.Redis, budget: Budget, now_ms: int) -> Usage:
    pipe = client.pipeline(transaction=False)
    pipe.zcount(budget.key, now_ms - int(budget.window_s * 1000), "+inf")
    pipe.hget(keys.GATE, budget.approve_field)
    used, approved = pipe.execute()
    return Usage(int(used), int(approved or 0), budget)


def approve(client: redis.Redis, budget: Budget, extra: int) -> int:
    """Let ``extra`` more writes pass the budget (an operator's approval); the approvals now standing."""
    if extra <= 0:
        raise BudgetError("approve at least one cancel")
    return int(client.hincrby(keys.GATE, budget.approve_field, extra))


def would_wait(room: int, counted_rows: Iterable[bool]) -> tuple[int, int]:
    """Of a campaign's rows (True: its cancel counts), how many the budget lets go now and how many would wait."""
    counted = sum(1 for c in counted_rows if c)
    return min(counted, room), max(0, counted - room)


__all__ = ["BUYER_APIS", "COUNTED_REASONS", "Budget", "BudgetError", "Usage", "approve", "parse_window", "usage",
           "would_wait"]
