"""Platform pushes in the chaos run (issue 17): seller-center cancels whose pushes arrive duplicated, reordered or
not at all, and pushes that lie.

Pushes are fed as the receiver keeps them (``PushStore.append``). A seller-center cancel is made only on an order
whose job waits with no write of ours in flight and is not due for a while, so the sandbox's count of our cancels
still says whose cancel it was (``attribution``): such a job must end ``already_cancelled``, on a push, on the
reconciliation (its push was lost) or by its own next read. A lying push (an order read as not cancelled, a shop
the registry does not know) must change nothing. The chaos checks are the run's own: 0 lost, 0 cancelled twice,
ledger = platform.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cancelq.core import keys
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.store import PushStore
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient

from .world import Order

CANCELLED = {"shopee": "CANCELLED", "lazada": "canceled", "shopline": "canceled", "shoplazza": "cancelled"}
EARLIER = {"shopee": "READY_TO_SHIP", "lazada": "pending", "shopline": "open", "shoplazza": "opened"}
"""An order's status before the cancel: pushed after it, as a reordered (late) push."""
PER_ROUND = 4
LOST = 0.3
"""The share of seller-center cancels whose push never arrives (the receiver was down)."""
QUIET_MS = 1500
"""A job chosen for a seller-center cancel is not due for at least this long."""


@dataclass
class PushLog:
    seller_cancels: list[str] = field(default_factory=list)
    """platform/order of each seller-center cancel."""
    pushed: int = 0
    duplicates: int = 0
    reordered: int = 0
    lost: int = 0
    lying: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    """Outcomes the push processor wrote, by their evidence (push, reconcile)."""

    def summary(self) -> str:
        return (f"{len(self.seller_cancels)} seller-center cancels; {self.pushed} pushes ({self.duplicates} "
                f"duplicated, {self.reordered} reordered, {self.lying} lying), {self.lost} lost")


class ChaosPushes:
    def __init__(self, rt: Runtime, sandbox: SandboxClient, rng: random.Random, log: PushLog,
                 say: Callable[[str], None]) -> None:
        self.rt, self.sandbox, self.rng, self.log, self.say = rt, sandbox, rng, log, say
        self.store = PushStore(rt.redis)
        self.ids = itertools.count(1)

    def round(self, submitted: list[Order], job_ids: dict[tuple[str, str], str]) -> None:
        quiet = self.quiet(submitted, job_ids)
        for order in self.rng.sample(quiet, min(PER_ROUND, len(quiet))):
            self.sandbox.cancel_elsewhere(order.platform, order.order_id)
            self.log.seller_cancels.append(f"{order.platform}/{order.order_id}")
            if self.rng.random() < LOST:
                self.log.lost += 1
            else:
                self.told(order)
        self.lies(submitted, job_ids)
        self.say(f"pushes: {self.log.summary()}")

    def quiet(self, submitted: list[Order], job_ids: dict[tuple[str, str], str]) -> list[Order]:
        """Orders whose job waits with nothing in flight and no write recorded, not due for ``QUIET_MS``."""
        candidates = [o for o in submitted if o.state in ("cancellable", "in_cancel") and o.key in job_ids]
        pipe = self.rt.redis.pipeline(transaction=False)
        for order in candidates:
            pipe.hmget(keys.job(job_ids[order.key]), "state", "inflight", "due_at", "steps")
        soon = int(time.time() * 1000) + QUIET_MS
        return [o for o, (state, inflight, due, steps) in zip(candidates, pipe.execute(), strict=True)
                if state == "waiting" and not inflight and int(due or 0) > soon and not _wrote(steps)]

    def told(self, order: Order) -> None:
        """The cancel's push, the platform's retry of it (same message), a copy under a new message id, and an
        older status arriving last."""
        first = self.push(order, CANCELLED[order.platform])
        self.store.append(first)
        self.log.duplicates += 1
        if self.rng.random() < 0.5:
            self.push(order, CANCELLED[order.platform])
            self.log.duplicates += 1
        if self.rng.random() < 0.5:
            self.push(order, EARLIER[order.platform], pushed_at_ms=first.pushed_at_ms - 60_000)
            self.log.reordered += 1

    def lies(self, submitted: list[Order], job_ids: dict[tuple[str, str], str]) -> None:
        """A cancel pushed for orders nobody cancelled, and a push naming a shop the registry does not know."""
        open_orders = [o for o in submitted if o.state == "cancellable" and o.key in job_ids]
        for order in self.rng.sample(open_orders, min(2, len(open_orders))):
            if f"{order.platform}/{order.order_id}" not in self.log.seller_cancels:
                self.push(order, CANCELLED[order.platform])
                self.log.lying += 1
        if open_orders:
            order = self.rng.choice(open_orders)
            self.push(order, CANCELLED[order.platform], shop="chaos-no-such-shop")
            self.log.lying += 1

    def push(self, order: Order, status: str, *, shop: str | None = None, pushed_at_ms: int | None = None
             ) -> PushNotice:
        now = int(time.time() * 1000)
        notice = PushNotice(platform=order.platform, shop=shop or order.shop.name, order_id=order.order_id,
                            kind="status", status=status, message_id=f"chaos-{next(self.ids)}",
                            pushed_at_ms=pushed_at_ms or now, received_ms=now)
        self.store.append(notice)
        self.log.pushed += 1
        return notice


def _wrote(steps: Any) -> bool:
    """A write step recorded (Lazada's create, waiting for its verify): the cancel there is ours."""
    return any(name in json.loads(steps or "{}") for name in ("create", "cancel"))


def ended_by_processor(rt: Runtime) -> Counter[str]:
    """The outcomes written on a push's or a reconciliation's evidence, by source."""
    found: Counter[str] = Counter()
    for event in rt.events.recent(count=100_000, types=["cancel.succeeded", "cancel.already_cancelled"]):
        source = (event.data.get("evidence") or {}).get("source")
        if source:
            found[str(source)] += 1
    return found
