"""Fixtures of the delivery tests: a runtime allowing loopback webhooks with a fast retry schedule, receivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cancelq.delivery import service
from cancelq.delivery.endpoints import Endpoints
from cancelq.runtime import Runtime

from .receiver import Receiver

FAST = {"webhook_allow_private": True, "webhook_retry_schedule_s": [0.05, 0.05, 0.05, 0.05, 0.05],
        "webhook_retry_jitter": 0.0, "webhook_poll_s": 0.02, "webhook_claim_s": 2.0, "webhook_timeout_s": 3.0,
        "webhook_dispatch_claim_s": 2.0, "webhook_endpoint_concurrency": 4}
WORKER_ENV = {"CANCELQ_WEBHOOK_ALLOW_PRIVATE": "true", "CANCELQ_WEBHOOK_RETRY_SCHEDULE_S": "[0.05,0.05,0.05,0.05,0.05]",
              "CANCELQ_WEBHOOK_RETRY_JITTER": "0", "CANCELQ_WEBHOOK_POLL_S": "0.02", "CANCELQ_WEBHOOK_CLAIM_S": "2",
              "CANCELQ_WEBHOOK_TIMEOUT_S": "3", "CANCELQ_WEBHOOK_DISPATCH_CLAIM_S": "2"}


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime(settings=Runtime().settings.model_copy(update=FAST))
    yield runtime
    runtime.session.close()


@pytest.fixture()
def store(rt: Runtime) -> Endpoints:
    return service.endpoints_of(rt)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def other() -> Iterator[Receiver]:
    r = Receiver(path="/other")
    yield r
    r.close()


@pytest.fixture()
def delivering(rt: Runtime) -> Iterator[service.DeliveryService]:
    """The dispatcher and sender threads in this process (as a worker runs them)."""
    svc = service.start(rt, "test@here")
    yield svc
    svc.stop()
