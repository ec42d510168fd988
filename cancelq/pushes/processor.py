"""The push consumer of every worker: reads ``keys.PUSHES`` as one consumer group, acts on each push, acks it.

Each worker is a consumer of the group ``GROUP`` (XREADGROUP with a block). A push is acknowledged (XACK) once
handled; one whose handling failed (the read was deferred by the gate, the platform failed) stays pending and is
taken up again after ``push_retry_s`` by whichever worker claims it (XAUTOCLAIM), which is also how the pushes a
dead worker held are recovered. After ``push_max_tries`` handlings a push is dropped with a log line: the
reconciliation still finds what it told of. Between reads the same thread sweeps the unconfirmed watch and, at
most once per ``reconcile_interval_s`` for the whole fleet, runs a reconciliation round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
import structlog

from cancelq.core import keys
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.orders import Orders
from cancelq.pushes.reconcile import Reconciler
from cancelq.runtime import Runtime

log = structlog.get_logger("cancelq.pushes")

GROUP = "cancelq-workers"
BATCH = 50
SWEEP_S = 1.0
"""How often a worker looks for watched jobs past their deadline (a ZRANGEBYSCORE when there are none)."""


class PushProcessor(threading.Thread):
    """One worker's consumer of the pushes stream (``start``/``stop``), or ``tick`` driven by a caller (tests)."""

    def __init__(self, rt: Runtime, consumer: str, *, block_ms: int = 500, orders: Orders | None = None,
                 reconciler: Reconciler | None = None) -> None:
        super().__init__(name="cancelq-pushes", daemon=True)
        self.rt = rt
        self.consumer = consumer
        self.block_ms = block_ms
        self.orders = orders or Orders(rt)
        self.reconciler = reconciler or Reconciler(rt, self.orders)
        self.retry_ms = int(rt.settings.push_retry_s * 1000)
        self._stop_event = threading.Event()
        self._group_made = False
        self._swept_at = 0.0

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.tick()
            except Exception as exc:  # Redis gone for a moment, a bug: keep consuming
                log.warning("push_processor_error", error=f"{type(exc).__name__}: {exc}")
                self._stop_event.wait(1.0)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout_s)

    def tick(self) -> int:
        """Handle what is pending for this consumer (taken over or new), then the periodic work; how many pushes."""
        entries = self.take()
        for entry_id, fields in entries:
            self.handle_entry(entry_id, fields)
        self.periodic()
        return len(entries)

    def take(self) -> list[tuple[str, Mapping[Any, Any]]]:
        """Pushes left pending past ``push_retry_s`` (a failed handling, a dead worker), then new ones."""
        self.ensure_group()
        claimed: Any = self.rt.redis.xautoclaim(keys.PUSHES, GROUP, self.consumer, self.retry_ms, count=BATCH)
        entries = [(str(i), f) for i, f in (claimed[1] if claimed else []) if f]
        if entries:
            return entries
        answer: Any = self.rt.redis.xreadgroup(GROUP, self.consumer, {keys.PUSHES: ">"}, count=BATCH,
                                               block=self.block_ms)
        return [(str(i), f) for _, more in answer or [] for i, f in more if f]

    def ensure_group(self) -> None:
        if self._group_made:
            return
        try:
            self.rt.redis.xgroup_create(keys.PUSHES, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_made = True

    def handle_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> None:
        try:
            notice = PushNotice.from_fields(fields)
        except (KeyError, ValueError) as exc:
            log.warning("push_unreadable", entry=entry_id, error=str(exc))
            self.rt.redis.xack(keys.PUSHES, GROUP, entry_id)
            return
        context = {"entry": entry_id, "platform": notice.platform, "shop": notice.shop, "order_id": notice.order_id,
                   "kind": notice.kind, "message_id": notice.message_id}
        try:
            done = self.orders.handle(notice)
        except Exception as exc:
            self.failed(entry_id, exc, context)
            return
        self.rt.redis.xack(keys.PUSHES, GROUP, entry_id)
        log.debug("push_handled", done=done, **context)

    def failed(self, entry_id: str, error: Exception, context: Mapping[str, Any]) -> None:
        """Leave the push pending for a later try, or drop it after ``push_max_tries``."""
        pending: Any = self.rt.redis.xpending_range(keys.PUSHES, GROUP, min=entry_id, max=entry_id, count=1)
        tries = int(pending[0]["times_delivered"]) if pending else 1
        text = f"{type(error).__name__}: {str(error)[:300]}"
        if tries >= self.rt.settings.push_max_tries:
            self.rt.redis.xack(keys.PUSHES, GROUP, entry_id)
            log.warning("push_dropped", tries=tries, error=text, **context)
        else:
            log.info("push_retry", tries=tries, retry_s=self.retry_ms / 1000, error=text, **context)

    def periodic(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_S:
            return
        self._swept_at = now
        for work in (self.orders.sweep, self.reconciler.maybe_run):
            try:
                work()
            except Exception as exc:  # a read the gate held, a platform's failure: the next round tries again
                log.info("push_periodic_held", work=work.__name__, error=f"{type(exc).__name__}: {str(exc)[:300]}")


def start(rt: Runtime, consumer: str) -> PushProcessor:
    processor = PushProcessor(rt, consumer)
    processor.start()
    return processor


__all__ = ["GROUP", "PushProcessor", "start"]
