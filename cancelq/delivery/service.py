"""The delivery side of a worker: the dispatcher and the webhook sender, built from the worker's runtime.

Both run as threads beside the jobs (started at ``worker_ready``, stopped at ``worker_shutdown``) on the
runtime's Redis client; they add no Redis command to a job's path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cancelq.core.settings import Settings
from cancelq.delivery.attempts import Recorder, new_session
from cancelq.delivery.dispatch import Dispatcher
from cancelq.delivery.endpoints import Endpoints
from cancelq.delivery.queue import DeliveryQueue
from cancelq.delivery.sender import WebhookSender
from cancelq.jobs.events import Events
from cancelq.runtime import Runtime
from cancelq.shops.registry import Sealer


def endpoints_of(rt: Runtime) -> Endpoints:
    """The endpoint store on the runtime's Redis, sealing with the settings' encryption key."""
    s = rt.settings
    key = s.encryption_key
    return Endpoints(rt.redis, Sealer(key.get_secret_value() if key else None),
                     allow_private=s.webhook_allow_private, grace_s=s.webhook_secret_grace_s)


def queue_of(rt: Runtime) -> DeliveryQueue:
    s = rt.settings
    return DeliveryQueue(rt.redis, claim_ms=int(s.webhook_claim_s * 1000), cap=s.webhook_endpoint_concurrency)


@dataclass
class DeliveryService:
    """The two threads of one worker."""

    dispatcher: Dispatcher
    sender: WebhookSender

    def start(self) -> DeliveryService:
        self.dispatcher.start()
        self.sender.start()
        return self

    def stop(self) -> None:
        self.dispatcher.stop()
        self.sender.stop()
        self.sender.session.close()


def build(rt: Runtime, consumer: str, *, busy: Callable[[], bool] = lambda: False) -> DeliveryService:
    """The service of a worker named ``consumer`` (its hostname), not started; ``busy``: whether the worker has
    cancels running (webhook attempts are then paced, ``webhook_max_per_s``)."""
    s: Settings = rt.settings
    endpoints, queue = endpoints_of(rt), queue_of(rt)
    events = Events(rt.redis, retention_s=s.events_retention_s, claim_idle_ms=int(s.webhook_dispatch_claim_s * 1000))
    dispatcher = Dispatcher(rt.redis, events, endpoints, queue, rt.sender.app.send_task, consumer=consumer,
                            reply_ttl_s=s.events_retention_s)
    sender = WebhookSender(queue, endpoints, Recorder(rt.redis, queue, endpoints, s), s,
                           new_session(s.webhook_concurrency), busy=busy)
    return DeliveryService(dispatcher, sender)


def start(rt: Runtime, consumer: str, *, busy: Callable[[], bool] = lambda: False) -> DeliveryService:
    return build(rt, consumer, busy=busy).start()
