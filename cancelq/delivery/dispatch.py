"""The dispatcher: reads the event stream as one consumer group for the whole fleet (``cancelq-delivery``),
queues one delivery per event per matching enabled endpoint, sends each job's Celery ``reply`` once per event,
then acknowledges.

A worker that dies between reading and acknowledging leaves its events pending; another worker's dispatcher
takes them over (XAUTOCLAIM) after ``webhook_dispatch_claim_s``. Queueing is idempotent (a delivery already
queued is kept as it is) and a reply is guarded by a SET NX on the event id, so a takeover doubles nothing
that was done: at least once, deduplicated by the event id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
import structlog

from cancelq.core import keys
from cancelq.delivery.endpoints import Endpoint, Endpoints
from cancelq.delivery.queue import DeliveryQueue
from cancelq.jobs.events import Event, Events
from cancelq.jobs.ledger import now_ms

GROUP = "cancelq-delivery"
BATCH = 200
CREATION_MARGIN_MS = 1000
LINGER_S = 0.2
TAKE_OVER_S = 5.0
log = structlog.get_logger("cancelq.delivery")

SendTask = Callable[..., Any]


class Dispatcher(threading.Thread):
    """Turns events into queued deliveries and Celery replies."""

    def __init__(self, client: redis.Redis, events: Events, endpoints: Endpoints, queue: DeliveryQueue,
                 send_task: SendTask, *, consumer: str, reply_ttl_s: float, block_ms: int = 1000) -> None:
        super().__init__(name="cancelq-dispatch", daemon=True)
        self.r = client
        self.events = events
        self.endpoints = endpoints
        self.queue = queue
        self.send_task = send_task
        self.consumer = consumer
        self.reply_ttl_s = int(reply_ttl_s)
        self.pending_ttl_s = max(1, events.claim_idle_ms // 2000)
        self.block_ms = block_ms
        self.stopping = threading.Event()
        self._took_over_at = 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.dispatch_once()
            except Exception as exc:  # outlive a Redis or broker hiccup: what was not acked is read again
                log.warning("dispatch_error", error=f"{type(exc).__name__}: {exc}")
                self.stopping.wait(1.0)

    def dispatch_once(self) -> int:
        """Read one batch, queue its deliveries, send its replies, acknowledge it; how many events.

        A batch smaller than ``BATCH`` is followed by ``LINGER_S`` of rest, so that under load events are read
        in batches (a few commands per batch, not per event); a crashed reader's events are looked for every
        ``TAKE_OVER_S``."""
        take_over = time.monotonic() - self._took_over_at >= TAKE_OVER_S
        if take_over:
            self._took_over_at = time.monotonic()
        listening = any(e.enabled for e in self.endpoints.current())
        batch = self.events.read_group(GROUP, self.consumer, count=BATCH, block_ms=self.block_ms,
                                       take_over=take_over, heads_only=not listening)
        if batch:
            enabled = [e for e in self.endpoints.current() if e.enabled]
            if enabled and not listening:  # an endpoint came while the read was blocked: it hears these too
                batch = self.events.whole(batch)
            self.queue_deliveries(batch, enabled)
            for event in batch:
                if event.wants_reply:
                    self.reply(event if event.data or listening else self.events.whole([event])[0])
            self.events.ack(GROUP, [e.id for e in batch])
        if 0 < len(batch) < BATCH:
            self.stopping.wait(LINGER_S)
        return len(batch)

    def queue_deliveries(self, batch: Sequence[Event], enabled: Sequence[Endpoint]) -> int:
        if not enabled:
            return 0
        now, queued = now_ms(), 0
        pipe = self.r.pipeline(transaction=True)
        for event in batch:
            written_ms = int(event.id.split("-", 1)[0])
            for endpoint in enabled:
                # An endpoint hears of what happened from its creation on; older events: `webhooks replay`.
                if endpoint.wants(event) and written_ms >= endpoint.created_at - CREATION_MARGIN_MS:
                    self.queue.enqueue(pipe, event, endpoint.id, now)
                    queued += 1
        if queued:
            pipe.execute()
        return queued

    def reply(self, event: Event) -> bool:
        """Send the job's Celery reply task with the event as its one argument, once per event."""
        reply = event.data.get("reply")
        if not isinstance(reply, dict) or not reply.get("task"):
            return False
        key = keys.reply_sent(event.id)
        if not self.r.set(key, "pending", nx=True, ex=self.pending_ttl_s):
            return False
        try:
            self.send_task(str(reply["task"]), args=[event.to_dict()], queue=reply.get("queue") or None)
        except Exception:
            self.r.delete(key)
            raise
        self.r.set(key, "sent", ex=self.reply_ttl_s)
        return True

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=self.block_ms / 1000 + 2)
