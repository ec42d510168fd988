"""What the fleet does with one push: read the order through the platform's API, then act on what the read says.

A push is a hint: the notice's status word only decides whether a read is worth its slot in the limiter; every
decision rests on the read. The read goes through the fleet-wide gate as a read (the shop's limits, cooldowns and
circuits; never a write mark, never a job's lease).

::

    read: cancelled   open job of ours      -> it ends (``settle``): succeeded if our write was in flight
                                               and the cancel could be ours, else already_cancelled
                      no open job           -> order.cancelled_elsewhere (once per order)
                      a job we cancelled    -> confirmed: it leaves the unconfirmed watch
    read: not cancelled, a job we cancelled -> watched until the platform confirms (``watch``)
    buyer_request                           -> also handed to ``BuyerRequests.handle`` with the read
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from cancelq.jobs.contract import InvalidJob, default_idempotency_key, parse_job
from cancelq.jobs.ledger import JobRecord
from cancelq.jobs.states import JobState
from cancelq.platforms.base import CancelRequest, OrderState, OrderStatus
from cancelq.platforms.reasons import Reason
from cancelq.pushes.buyer import BuyerRequests
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.settle import Evidence, Settler
from cancelq.pushes.watch import Watch
from cancelq.runtime import Runtime
from cancelq.shops.registry import Shop

log = structlog.get_logger("cancelq.pushes")


class NotNow(Exception):
    """The order cannot be read now (the shop needs re-auth or is parked): the push is taken up again later."""


@dataclass(frozen=True)
class Order:
    """An order as the processor knows it: its shop, its whole-order job (if any) and the request to read it."""

    shop: Shop
    order_id: str
    record: JobRecord | None
    request: CancelRequest
    writes: frozenset[str]


class Orders:
    """Reads orders through the gate and acts on what they say (for pushes, the reconciliation and the watch)."""

    def __init__(self, rt: Runtime, *, watch: Watch | None = None) -> None:
        self.rt = rt
        self.settler = Settler(rt)
        self.watch = watch or Watch(rt.redis, verify_within_s=rt.settings.verify_within_s)

    def handle(self, notice: PushNotice) -> str:
        """Act on one push; what happened (for the log). Raises what a read raised (the push is retried)."""
        whole = self.find(notice.platform, notice.shop, notice.order_id)
        if whole is None:
            return "unknown_shop"
        others = self.others(notice.platform, notice.shop, notice.order_id)
        orders = [whole, *others] if whole.record is not None or not others else others
        if notice.kind == "status" and not any(self.worth_reading(o, notice.status) for o in orders):
            return "ignored"
        evidence, reads = Evidence.of(notice), dict[tuple[str, ...], OrderStatus]()
        done = []
        for order in orders:
            items = tuple(repr(item) for item in order.request.items)  # one read per distinct request
            status = reads[items] = reads.get(items) or self.read(order)
            done.append(self.act(order, status, evidence))
        if notice.kind == "buyer_request" and not any(self.ours_pending(o) for o in orders):
            BuyerRequests(self.rt).handle(notice, next(iter(reads.values())))
        return ",".join(done)

    @staticmethod
    def ours_pending(order: Order) -> bool:
        """The order is IN_CANCEL because of our own cancel (its job succeeded): the platform has yet to confirm
        it, and no buyer is asking anything."""
        record = order.record
        succeeded = record is not None and record.state == JobState.SUCCEEDED
        return succeeded and record is not None and record.job.get("action") in (None, "cancel")

    def find(self, platform: str, shop_name: str, order_id: str) -> Order | None:
        """The order's shop and its whole-order job (found by its default idempotency key); None: no such shop.
        An accept of a buyer's request has a key of its own: it is one of ``others``."""
        record = self.rt.ledger.find(default_idempotency_key(platform, shop_name, order_id, []))
        return self.order(platform, shop_name, order_id, record)

    def others(self, platform: str, shop_name: str, order_id: str) -> list[Order]:
        """The order's jobs submitted with their own key or items (the ledger's order index), open or final."""
        records = (self.rt.ledger.get(job_id) for job_id in self.rt.ledger.order_jobs(platform, shop_name, order_id))
        found = (self.of_record(record) for record in records if record is not None)
        return [order for order in found if order is not None and order.record is not None]

    def of_record(self, record: JobRecord) -> Order | None:
        """The order of a job the caller has in hand (any job, its own key or items included)."""
        job = record.job
        return self.order(str(job.get("platform", "")), str(job.get("shop", "")), str(job.get("order_id", "")),
                          record)

    def order(self, platform: str, shop_name: str, order_id: str, record: JobRecord | None) -> Order | None:
        shop = self.rt.shops.get(platform, shop_name)
        if shop is None:
            return None
        request = CancelRequest(order_id=order_id, reason=Reason.OTHER)
        if record is not None:
            try:
                request = parse_job(record.job, schema_checked=True, recorded=True).request()
            except (InvalidJob, ValueError, TypeError, KeyError):
                record = None  # not a job the processor can judge: its own delivery deals with it
        writes = frozenset(spec.name for spec in self.rt.adapter(shop).plan(request) if spec.writes)
        return Order(shop, order_id, record, request, writes)

    def worth_reading(self, order: Order, word: str) -> bool:
        """A status push is worth a read when it may tell of a cancel, or of a job we cancelled."""
        succeeded = order.record is not None and order.record.state == JobState.SUCCEEDED
        return "cancel" in word.lower() or succeeded

    def read(self, order: Order) -> OrderStatus:
        """The order's status, read through the gate (it may sleep briefly, or raise ``Deferred``)."""
        shop = order.shop
        if shop.needs_reauth or shop.parked:
            raise NotNow(f"{shop.platform}/{shop.name} {'needs re-auth' if shop.needs_reauth else 'is parked'}")
        if self.rt.tokens.due(shop):
            shop = self.rt.tokens.refresh(shop, seen_token=shop.access_token)
        gate = self.rt.delivery_gate(shop, f"push-{order.order_id}", reserve=False)
        gate.for_step(write_step=None)
        status = self.rt.adapter(shop, gate).read_status(order.request)
        if gate.probing:
            self.rt.circuits.success(shop.platform, shop.name)
        return status

    def act(self, order: Order, status: OrderStatus, evidence: Evidence) -> str:
        record = order.record
        if status.state is OrderState.CANCELLED:
            if record is None:
                shop = order.shop
                told = self.settler.elsewhere(shop.platform, shop.name, order.order_id, status, evidence)
                return "elsewhere" if told else "told_before"
            if record.state == JobState.SUCCEEDED:
                return "confirmed" if self.watch.confirm(record.job_id) else "final"
            if record.final:
                return "final"
            return self.settler.end(record.job_id, status, evidence, writes=order.writes)
        if record is not None and record.state == JobState.SUCCEEDED:
            if self.watch.add(record):
                log.info("watching", job_id=record.job_id, order_status=status.raw_status,
                         verify_within_s=self.watch.verify_within_s)
            return "watched"
        return "open"

    def sweep(self, *, limit: int = 20) -> int:
        """Read the watched jobs past their deadline: confirmed, or announced ``cancel.unconfirmed``. How many."""
        done = 0
        for job_id in self.watch.due(limit=limit):
            record = self.rt.ledger.get(job_id)
            order = self.of_record(record) if record is not None else None
            if record is None or record.state != JobState.SUCCEEDED or order is None or order.record is None:
                self.watch.drop(job_id)
                continue
            status = self.read(order)
            if status.state is OrderState.CANCELLED:
                self.watch.confirm(job_id)
            elif self.watch.announce(record, status):
                log.warning("cancel_unconfirmed", job_id=job_id, order_status=status.raw_status,
                            verify_within_s=self.watch.verify_within_s, request_id=status.request_id)
            done += 1
        return done


__all__ = ["NotNow", "Order", "Orders"]
