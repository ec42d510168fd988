"""The ``Idempotency-Key`` header (IETF draft "The Idempotency-Key HTTP Header Field", as Stripe does it).

Per API key, a header value is taken with one ``SET NX GET``: the first request holds it "in flight" (a
second request with it then is 409), and leaves its answer under it for ``api_idempotency_ttl_s``; a later
request with the same key and the same body gets that answer again (200, ``Idempotent-Replayed: true``), one
with a different body 422. A request that failed (Redis down) lets the key go, so a retry runs afresh.

Without the header the job's own idempotency key (``platform/shop/order``) makes a repeat one job; that is the
ledger's intake, not this module.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys

IN_FLIGHT_S = 60
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class Held:
    """What a request found under its header: ``answer`` None while the first request is still in flight."""

    fingerprint: str
    answer: dict[str, Any] | None


def fingerprint(path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
                          .encode()).hexdigest()


class Idempotency:
    def __init__(self, client: redis.Redis, *, ttl_s: float) -> None:
        self.r = client
        self.ttl_s = max(1, int(ttl_s))

    def take(self, key_id: str, header: str, print_: str) -> Held | None:
        """None: this request holds the header now (answer with ``keep``, or ``drop`` on failure)."""
        value = {"fp": print_, "answer": None}
        old = self.r.set(keys.api_idempotency(key_id, header), json.dumps(value), nx=True, ex=IN_FLIGHT_S,
                         get=True)
        if old is None:
            return None
        stored = json.loads(str(old))
        return Held(stored["fp"], stored["answer"])

    def keep(self, key_id: str, header: str, print_: str, answer: dict[str, Any]) -> None:
        self.r.set(keys.api_idempotency(key_id, header), json.dumps({"fp": print_, "answer": answer}), ex=self.ttl_s)

    def drop(self, key_id: str, header: str) -> None:
        self.r.delete(keys.api_idempotency(key_id, header))
