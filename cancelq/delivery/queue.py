"""The durable queue of webhook deliveries: one sorted set of due deliveries per endpoint, an index of endpoints
by their earliest due time, and a claimed set (never Celery countdowns).

A delivery is one event to one endpoint; its id ``EVENT_ID:ENDPOINT_ID`` is also its ``webhook-id``. Its hash
holds the body as first queued (so every attempt signs the same bytes) and the attempts made. Claiming
(``lua/claim.lua``) moves due deliveries to the claimed set with an expiry: a sender that dies mid-attempt
loses nothing, the claim expires and another sender takes the delivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.jobs.events import Event
from cancelq.jobs.ledger import now_ms

KEEP_S = 8 * 86400
"""A delivery's record outlives its longest retry schedule, then expires even if nothing finished it."""


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return f"{event_id}:{endpoint_id}"


def body_of(event: Event) -> str:
    return json.dumps(event.to_dict(), separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Delivery:
    """One delivery as claimed."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int

    @classmethod
    def from_hash(cls, delivery: str, h: Mapping[str, str]) -> Delivery:
        event_id, _, endpoint_id = delivery.rpartition(":")
        return cls(delivery, endpoint_id, event_id, h.get("type", ""), h["body"], int(h.get("attempts") or 0))


class DeliveryQueue:
    """Queue, claim, retry and finish deliveries."""

    def __init__(self, client: redis.Redis, *, claim_ms: int = 60_000, cap: int = 8) -> None:
        self.r = client
        self.claim_ms = claim_ms
        self.cap = cap
        self._claim = register(client, "cancelq.delivery", "claim")

    def enqueue(self, pipe: redis.client.Pipeline, event: Event, endpoint_id: str, due_ms: int, *,
                again: bool = False) -> str:
        """Queue ``event`` for ``endpoint_id`` in the caller's pipeline. A delivery already queued keeps its body
        and attempts; ``again`` (a replay) makes it due at ``due_ms`` even if it was due later."""
        did = delivery_id(event.id, endpoint_id)
        key = keys.webhook_delivery(did)
        pipe.hsetnx(key, "body", body_of(event))
        pipe.hsetnx(key, "type", event.type)
        pipe.hsetnx(key, "attempts", 0)
        pipe.expire(key, KEEP_S)
        pipe.zadd(keys.webhook_queue(endpoint_id), {did: due_ms}, nx=not again, lt=again)
        pipe.zadd(keys.WEBHOOK_DUE, {endpoint_id: due_ms}, lt=True)
        return did

    def claim(self, limit: int, free: Mapping[str, int]) -> list[str]:
        """Claim up to ``limit`` due deliveries, at most ``free[endpoint]`` (else ``cap``) of one endpoint."""
        now = now_ms()
        endpoints = self._candidates(now)
        if not endpoints:
            return []
        args: list[Any] = [now, limit, self.claim_ms, self.cap, len(endpoints), *endpoints]
        for endpoint_id, slots in free.items():
            args += [endpoint_id, max(slots, 0)]
        key_list = [keys.WEBHOOK_DUE, keys.WEBHOOK_CLAIMED, *(keys.webhook_queue(e) for e in endpoints)]
        return [str(i) for i in self._claim(keys=key_list, args=args)]

    def _candidates(self, now: int) -> list[str]:
        """The endpoints the claim may touch (due, or with an expired claim), read first so that the script gets
        their queues' keys in KEYS."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrangebyscore(keys.WEBHOOK_DUE, "-inf", now, start=0, num=1000)
        pipe.zrangebyscore(keys.WEBHOOK_CLAIMED, "-inf", now, start=0, num=1000)
        due, stale = pipe.execute()
        expired = (str(i).rpartition(":")[2] for i in stale)
        return [e for e in dict.fromkeys([*(str(e) for e in due), *expired]) if e]

    def load(self, delivery: str) -> Delivery | None:
        h: dict[str, str] = self.r.hgetall(keys.webhook_delivery(delivery))  # type: ignore[assignment]
        return Delivery.from_hash(delivery, h) if h.get("body") else None

    def finish(self, pipe: redis.client.Pipeline, delivery: str) -> None:
        """Forget a delivery (sent, or given up) in the caller's pipeline."""
        pipe.zrem(keys.WEBHOOK_CLAIMED, delivery)
        pipe.delete(keys.webhook_delivery(delivery))

    def retry(self, pipe: redis.client.Pipeline, delivery: Delivery, due_ms: int) -> None:
        """Count the attempt and queue the delivery again, due at ``due_ms``, in the caller's pipeline."""
        pipe.hset(keys.webhook_delivery(delivery.id), "attempts", delivery.attempts + 1)
        pipe.zrem(keys.WEBHOOK_CLAIMED, delivery.id)
        pipe.zadd(keys.webhook_queue(delivery.endpoint_id), {delivery.id: due_ms})
        pipe.zadd(keys.WEBHOOK_DUE, {delivery.endpoint_id: due_ms}, lt=True)

    def pending(self, endpoint_id: str) -> int:
        """Deliveries of the endpoint waiting (not counting those being sent now)."""
        return int(self.r.zcard(keys.webhook_queue(endpoint_id)))
