"""The worker's webhook sender: claims due deliveries and POSTs them from a bounded thread pool.

The pool caps a worker's attempts in flight (``webhook_concurrency``), and each endpoint's share of them
(``webhook_endpoint_concurrency``): the claim script never hands this worker more of one endpoint's deliveries
than it has free slots for, so a slow or dead endpoint fills its own slots only, and every other endpoint's
deliveries go out beside it. While the worker is running cancels, ``webhook_max_per_s`` caps how fast it starts
attempts (``Pace``), so that a backlog (an endpoint back after an outage) drains beside the cancels instead of
taking their CPU; an idle worker sends as fast as its slots allow.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
import structlog

from cancelq.core.settings import Settings
from cancelq.delivery.attempts import Recorder, send
from cancelq.delivery.endpoints import Endpoint, Endpoints
from cancelq.delivery.queue import DeliveryQueue

log = structlog.get_logger("cancelq.webhooks")
ENDPOINT_CACHE_S = 5.0
PACE_BURST_S = 0.25


class Pace:
    """A token bucket of ``rate`` attempts a second (``burst_s`` of them at most saved up) that holds only while
    ``busy()`` says the worker has cancels to run; ``rate`` 0: no cap."""

    def __init__(self, rate: float, *, busy: Callable[[], bool], burst_s: float = PACE_BURST_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.busy = busy
        self.cap = max(1.0, rate * burst_s)
        self.clock = clock
        self.allowance = self.cap
        self.at = clock()

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` attempts may start now (taken from the bucket)."""
        now = self.clock()
        if self.rate <= 0 or not self.busy():
            self.allowance, self.at = self.cap, now
            return wanted
        self.allowance = min(self.cap, self.allowance + (now - self.at) * self.rate)
        self.at = now
        granted = min(wanted, int(self.allowance))
        self.allowance -= granted
        return granted

    def give_back(self, unused: int) -> None:
        if self.rate > 0:
            self.allowance = min(self.cap, self.allowance + unused)

    def wait_s(self, idle_s: float) -> float:
        """How long to rest before looking again: ``idle_s``, or less when the bucket is what held us."""
        if self.rate <= 0 or self.allowance >= 1:
            return idle_s
        return min(idle_s, (1 - self.allowance) / self.rate)


class WebhookSender(threading.Thread):
    """Claims due deliveries every ``webhook_poll_s`` (at once again while it finds work) and sends them."""

    def __init__(self, queue: DeliveryQueue, endpoints: Endpoints, recorder: Recorder, settings: Settings,
                 session: requests.Session, *, busy: Callable[[], bool]) -> None:
        super().__init__(name="cancelq-webhooks", daemon=True)
        self.queue = queue
        self.endpoints = endpoints
        self.recorder = recorder
        self.settings = settings
        self.session = session
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency, thread_name_prefix="cancelq-webhook")
        self.inflight: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.slot_freed = threading.Event()
        self.stopping = threading.Event()
        self._cache: tuple[float, dict[str, Endpoint]] = (0.0, {})
        self._version = ""
        self.pace = Pace(settings.webhook_max_per_s, busy=busy)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                claimed = self.tick()
            except Exception as exc:  # outlive a Redis hiccup; claims not sent expire and come back
                log.warning("webhook_sender_error", error=f"{type(exc).__name__}: {exc}")
                claimed = 0
            if not claimed:
                self.slot_freed.wait(self.pace.wait_s(self.settings.webhook_poll_s))
                self.slot_freed.clear()

    def tick(self) -> int:
        """Claim what this worker has slots for and start sending it; how many were claimed."""
        with self.lock:
            room = self.settings.webhook_concurrency - sum(self.inflight.values())
            free = {ep: self.settings.webhook_endpoint_concurrency - n for ep, n in self.inflight.items() if n}
        room = self.pace.take(room) if room > 0 else 0
        if room <= 0:
            return 0
        version = self.endpoints.version()
        if version != self._version:
            self._version, self._cache = version, (0.0, {})
        claimed = self.queue.claim(room, free)
        self.pace.give_back(room - len(claimed))
        for delivery_id in claimed:
            endpoint_id = delivery_id.rpartition(":")[2]
            with self.lock:
                self.inflight[endpoint_id] += 1
            self.pool.submit(self._deliver, delivery_id, endpoint_id)
        return len(claimed)

    def _deliver(self, delivery_id: str, endpoint_id: str) -> None:
        try:
            self.deliver(delivery_id)
        except Exception as exc:  # the claim expires and another attempt follows
            log.warning("webhook_attempt_error", endpoint=endpoint_id, error=type(exc).__name__)
        finally:
            with self.lock:
                self.inflight[endpoint_id] -= 1
                if self.inflight[endpoint_id] <= 0:
                    del self.inflight[endpoint_id]
            self.slot_freed.set()

    def deliver(self, delivery_id: str) -> str:
        """One attempt of a claimed delivery; what became of it."""
        delivery = self.queue.load(delivery_id)
        endpoint = self.endpoint(delivery_id.rpartition(":")[2])
        if delivery is None or endpoint is None or not endpoint.enabled:
            pipe = self.queue.r.pipeline(transaction=True)
            self.queue.finish(pipe, delivery_id)
            pipe.execute()
            return "dropped"
        outcome = send(self.session, self.settings, endpoint, delivery.id, delivery.body)
        result = self.recorder.record(endpoint, delivery, outcome)
        if result == "disabled":
            self._cache = (0.0, {})
        return result

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint as read since it last changed (``Endpoints.version``, checked before each claim)."""
        at, cached = self._cache
        if time.monotonic() - at > ENDPOINT_CACHE_S:
            cached = {e.id: e for e in self.endpoints.all()}
            self._cache = (time.monotonic(), cached)
        return cached.get(endpoint_id)

    def stop(self) -> None:
        self.stopping.set()
        self.slot_freed.set()
        self.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)
