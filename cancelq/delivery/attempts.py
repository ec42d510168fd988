"""One webhook attempt: POST the signed body, read a bounded answer, and record what happened.

An attempt has a whole deadline (``webhook_timeout_s``), follows no redirect and reads at most
``webhook_body_limit_bytes`` of the answer. 2xx: delivered. 410: the endpoint is disabled. Anything else is
retried on the schedule (``webhook_retry_schedule_s``, with jitter, never sooner than a ``Retry-After``) until
the schedule ends or the endpoint has been failing for ``webhook_disable_after_s``, which disables it. Each
attempt is kept in the endpoint's bounded log: event id, status, latency, attempt, time; never the secret or
the URL's path.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import redis
import requests
import structlog

from cancelq.core import keys
from cancelq.core.settings import Settings
from cancelq.delivery.endpoints import Endpoint, Endpoints
from cancelq.delivery.queue import Delivery, DeliveryQueue
from cancelq.delivery.signing import headers
from cancelq.jobs.ledger import now_ms

log = structlog.get_logger("cancelq.webhooks")
CHUNK = 8192


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (None: no answer, then ``error`` says why), latency, Retry-After."""

    status: int | None
    latency_ms: float
    error: str = ""
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def new_session(pool: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


def post(session: requests.Session, url: str, body: str, signed: dict[str, str], *, timeout_s: float,
         limit_bytes: int) -> Outcome:
    """POST once; the whole attempt (connect, send, the answer up to the limit) within ``timeout_s``."""
    started = time.monotonic()
    try:
        response = session.post(url, data=body.encode(), headers=signed, timeout=(min(5.0, timeout_s), timeout_s),
                                allow_redirects=False, stream=True)
        try:
            _drain(response, limit_bytes, started + timeout_s)
        finally:
            response.close()
    except (requests.RequestException, TimeoutError) as exc:
        return Outcome(None, _ms(started), type(exc).__name__)
    return Outcome(response.status_code, _ms(started), retry_after_s=retry_after(response.headers.get("Retry-After")))


def _drain(response: requests.Response, limit_bytes: int, deadline: float) -> None:
    read = 0
    for chunk in response.iter_content(CHUNK):
        read += len(chunk)
        if read >= limit_bytes:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took longer than the attempt's deadline")


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def next_wait_s(settings: Settings, attempts: int, retry_after_s: float | None) -> float | None:
    """The wait before attempt ``attempts + 1`` after ``attempts`` failed; None when the schedule is spent."""
    schedule = settings.webhook_retry_schedule_s
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    wait = base * (1 + random.uniform(-1, 1) * settings.webhook_retry_jitter)
    return max(wait, retry_after_s or 0.0)


def send(session: requests.Session, settings: Settings, endpoint: Endpoint, delivery_id: str, body: str) -> Outcome:
    """One signed attempt of ``body`` to ``endpoint``."""
    signed = headers(delivery_id, body, endpoint.signing_secrets(now_ms()))
    return post(session, endpoint.url, body, signed, timeout_s=settings.webhook_timeout_s,
                limit_bytes=settings.webhook_body_limit_bytes)


def log_entry(event_id: str, event_type: str, outcome: Outcome, attempt: int) -> str:
    return json.dumps({"event_id": event_id, "type": event_type, "status": outcome.status, "error": outcome.error,
                       "latency_ms": outcome.latency_ms, "attempt": attempt, "at": now_ms()})


class Recorder:
    """Records an attempt's outcome: the log entry, then done, retried, given up or the endpoint disabled."""

    def __init__(self, client: redis.Redis, queue: DeliveryQueue, endpoints: Endpoints, settings: Settings) -> None:
        self.r = client
        self.queue = queue
        self.endpoints = endpoints
        self.settings = settings

    def record(self, endpoint: Endpoint, delivery: Delivery, outcome: Outcome) -> str:
        """Record and return what became of the delivery: sent, retry, gave_up or disabled."""
        attempt = delivery.attempts + 1
        pipe = self.r.pipeline(transaction=True)
        self.log(pipe, endpoint.id, log_entry(delivery.event_id, delivery.event_type, outcome, attempt))
        if outcome.ok:
            self.queue.finish(pipe, delivery.id)
            pipe.hdel(keys.webhook(endpoint.id), "failing_since")
            pipe.execute()
            return "sent"
        if outcome.status == 410:
            self.queue.finish(pipe, delivery.id)
            pipe.execute()
            self.disable(endpoint, "the endpoint answered 410 Gone")
            return "disabled"
        return self._failed(pipe, endpoint, delivery, outcome)

    def _failed(self, pipe: redis.client.Pipeline, endpoint: Endpoint, delivery: Delivery, outcome: Outcome) -> str:
        now = now_ms()
        since = self.endpoints.failing(endpoint.id, now)
        wait_s = next_wait_s(self.settings, delivery.attempts + 1, outcome.retry_after_s)
        failing_s = (now - since) / 1000
        if failing_s >= self.settings.webhook_disable_after_s or wait_s is None:
            self.queue.finish(pipe, delivery.id)
            pipe.execute()
            if failing_s >= self.settings.webhook_disable_after_s:
                self.disable(endpoint, f"failing for {failing_s:.0f}s (webhook_disable_after_s="
                                       f"{self.settings.webhook_disable_after_s:g}); last: {_why(outcome)}")
                return "disabled"
            log.warning("webhook_gave_up", endpoint=endpoint.id, host=endpoint.host, event_id=delivery.event_id,
                        attempts=delivery.attempts + 1, last=_why(outcome))
            return "gave_up"
        self.queue.retry(pipe, delivery, now + int(wait_s * 1000))
        pipe.execute()
        return "retry"

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        if self.endpoints.disable(endpoint.id, reason):
            log.warning("webhook_disabled", endpoint=endpoint.id, host=endpoint.host, reason=reason)

    def log(self, pipe: redis.client.Pipeline | redis.Redis, endpoint_id: str, entry: str) -> None:
        key = keys.webhook_log(endpoint_id)
        pipe.lpush(key, entry)
        pipe.ltrim(key, 0, self.settings.webhook_log_size - 1)


def _why(outcome: Outcome) -> str:
    return f"http {outcome.status}" if outcome.status is not None else outcome.error
