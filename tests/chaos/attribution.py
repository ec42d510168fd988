"""Whose cancel it was: each cancelled outcome against the sandbox's own count of the cancels it applied.

In the chaos world nobody but our jobs cancels an order, so the sandbox's ``cancels_applied`` says it
exactly: an order seeded cancellable (or, on Shopee, with the buyer's request pending) whose one applied
cancel is ours must end ``succeeded``, on the evidence ``confirmed`` (our write accepted) or ``inferred`` (no
usable answer, the order read cancelled afterwards); an order with no cancel applied, or seeded cancelled,
must end ``already_cancelled``, ``before_us`` or ``refused``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cancelq.jobs.ledger import JobRecord

from .world import Order

OURS = frozenset({"confirmed", "inferred"})
NOT_OURS = frozenset({"before_us", "refused"})
CANCELLABLE_AT_SUBMISSION = frozenset({"cancellable", "in_cancel"})


def ours(order: Order, view: dict[str, Any]) -> bool:
    """Whether the sandbox counted our cancel as the one applied to ``order``."""
    return order.state in CANCELLABLE_AT_SUBMISSION and int(view["cancels_applied"]) == 1


def wrong(order: Order, record: JobRecord, view: dict[str, Any]) -> str:
    """Why the record's outcome or attribution contradicts the sandbox; empty when it does not (or the job did
    not end cancelled: ``report`` checks those against the platform's state)."""
    if record.state == "succeeded":
        if not ours(order, view):
            return "succeeded, not our cancel"
        if record.attribution not in OURS:
            return f"succeeded as {record.attribution or 'nothing'}"
    elif record.state == "already_cancelled":
        if ours(order, view):
            return "already_cancelled, but our cancel was the one applied"
        if record.attribution not in NOT_OURS:
            return f"already_cancelled as {record.attribution or 'nothing'}"
    return ""


def check(orders: list[Order], by_order: dict[tuple[str, str], JobRecord | None],
          views: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[str], Counter[str]]:
    """The contradictions (one line each, with the evidence) and the cancelled outcomes by attribution."""
    found, counts = [], Counter[str]()
    for order in orders:
        record = by_order[order.key]
        if record is None or record.state not in ("succeeded", "already_cancelled"):
            continue
        counts[f"{record.state}/{record.attribution or '-'}"] += 1
        view = views[order.key]
        why = wrong(order, record, view)
        if why:
            found.append(f"{order.platform}/{order.order_id}={record.job_id}({why}: seeded {order.state}, "
                         f"{view['cancels_applied']} applied, {record.attribution or 'no'} attribution)")
    return found, counts
