"""What a buyer's request to cancel turns into, by the shop's policy (accept, notify or ignore).

The push processor reads the order first and hands it here with the notice. A request still pending is
announced once (``cancel.buyer_requested``, appended with the request's marker in one script, so a re-read or
duplicated request announces nothing twice); under ``accept``, when the policy's condition holds on the order
as read, one accept job goes through the ledger first (under the order's accept key, so it is recorded and
sent once), and the announcement names it. ``ignore`` only counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cancelq.core import counters, keys
from cancelq.core.lua import register
from cancelq.jobs import events
from cancelq.jobs.intake import admit, summary
from cancelq.platforms.base import Action, OrderState, OrderStatus
from cancelq.pushes.notice import PushNotice
from cancelq.runtime import Runtime
from cancelq.shops.registry import BuyerPolicy

MARKER_TTL_S = 30 * 86400
"""How long an announced request is remembered: longer than any request stays open (Lazada: days)."""
RERUN_STATES = frozenset({"dead", "aborted"})
"""An earlier accept job of the order in one of these states is run again for a new request."""
SHIPPED_WORDS = ("shipped", "delivered", "to_confirm_receive", "completed", "to_return")
"""Statuses (any platform's, lowercased) that mean the order left the seller: ``--unless shipped``."""


@dataclass(frozen=True)
class Handled:
    """What ``handle`` did: ``decision`` accept, notify, ignore, duplicate or not_pending; ``job_id`` of the
    accept job, when one was submitted (or found, for a duplicate)."""

    decision: str
    job_id: str | None = None
    why: str = ""


class BuyerRequests:
    """Called by the push processor for every ``buyer_request`` notice, after it has read the order."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._announce = register(runtime.redis, "cancelq.pushes", "announce")

    def handle(self, notice: PushNotice, order: OrderStatus) -> Handled:
        """Announce the request (``cancel.buyer_requested``) and, under the shop's ``accept`` policy when its
        condition holds, submit one accept job for the order through the ledger."""
        shop = self.runtime.shops.get(notice.platform, notice.shop)
        policy = shop.buyer_policy if shop is not None else BuyerPolicy()
        handled = self._decide(notice, order, policy)
        counters.buyer_request(notice.platform, handled.decision)
        return handled

    def _decide(self, notice: PushNotice, order: OrderStatus, policy: BuyerPolicy) -> Handled:
        if not pending(order):
            return Handled("not_pending", why=f"the order reads {order.raw_status or order.state.value}")
        if policy.policy == "ignore":
            return Handled("ignore")
        marker = keys.buyer_request(notice.platform, notice.shop, notice.order_id, request_identity(order))
        if self.runtime.redis.exists(marker):
            return Handled("duplicate", job_id=_job_of(self.runtime.redis.get(marker)))
        why = blocked_by(policy, order)
        job_id = self._submit(notice) if policy.policy == "accept" and not why else None
        data = {"platform": notice.platform, "shop": notice.shop, "order_id": notice.order_id,
                "status": order.raw_status, "policy": policy.policy, "decision": "accept" if job_id else "notify",
                "why": why or None, "job_id": job_id, "message_id": notice.message_id or None}
        data = {k: v for k, v in data.items() if v is not None}
        argv: list[Any] = [MARKER_TTL_S * 1000, job_id or "-", *events.entry_args("cancel.buyer_requested", data)]
        if not self._announce(keys=[marker, keys.EVENTS], args=argv):
            return Handled("duplicate", job_id=job_id)
        return Handled("accept" if job_id else "notify", job_id=job_id, why=why)

    def _submit(self, notice: PushNotice) -> str:
        """Record and send the order's accept job, under the order's one accept key (``accept/P/S/ORDER``, what
        the push processor finds it by). A second intake finds the first; a new request after an accept job
        that ended without cancelling (a request refused before it ran) starts that job's next run."""
        raw = {"platform": notice.platform, "shop": notice.shop, "order_id": notice.order_id,
               "reason": "CUSTOMER_REQUEST", "action": Action.ACCEPT_BUYER_CANCEL.value,
               "source": "push:buyer_request"}
        admitted = admit(self.runtime, raw, source="push")
        if not admitted.created and admitted.state in RERUN_STATES:
            admitted = admit(self.runtime, raw, force=True, source="push")
        if admitted.created and admitted.job is not None:
            self.runtime.sender.send(admitted.job_id, summary(admitted.job), admitted.job.to_dict())
        return admitted.job_id


def pending(order: OrderStatus) -> bool:
    """Whether the order as read still has a buyer's request waiting for the seller."""
    return order.state is OrderState.IN_CANCEL or bool(order.detail.get("buyer_requests"))


def request_identity(order: OrderStatus) -> str:
    """The platform's identity of the pending request, where it has one (Lazada's reverse order ids); Shopee
    allows one request per order, so there the order is the identity ("")."""
    return ",".join(sorted(str(r) for r in order.detail.get("buyer_requests") or ()))


def blocked_by(policy: BuyerPolicy, order: OrderStatus) -> str:
    """Why the policy's condition keeps an accept from going ("" when nothing does)."""
    if "shipped" in policy.unless and shipped(order):
        return f"the order is shipped ({order.raw_status}): --unless shipped"
    return ""


def shipped(order: OrderStatus) -> bool:
    raw = order.raw_status.lower()
    return order.state is OrderState.NOT_CANCELLABLE or any(word in raw for word in SHIPPED_WORDS)


def _job_of(marker: Any) -> str | None:
    return None if marker in (None, "-") else str(marker)
