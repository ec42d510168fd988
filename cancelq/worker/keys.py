"""Every Redis key cancelq uses, in one place. All live under the ``cq:`` prefix."""

from __future__ import annotations

import hashlib

PREFIX = "cq"

DELAYED = f"{PREFIX}:delayed"
"""zset job_id -> due time (ms): waits that survive restarts (no Celery countdowns)."""
LEASES = f"{PREFIX}:leases"
"""zset job_id -> lease expiry (ms): who runs a job now; an expired lease is taken over."""
DLQ = f"{PREFIX}:dlq"
"""zset job_id -> dead-lettered at (ms)."""
REJECTED = f"{PREFIX}:rejected"
"""zset job_id -> rejected at (ms)."""
SHOPS = f"{PREFIX}:shops"
"""set of "platform/shop" names."""


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def idempotency(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{PREFIX}:idem:{digest}"


def dlq_entry(job_id: str) -> str:
    return f"{PREFIX}:dlq:{job_id}"


def worker(hostname: str) -> str:
    """A live worker's heartbeat (value: when it started, ms); expires when it stops beating."""
    return f"{PREFIX}:worker:{hostname}"


def shop(platform: str, name: str) -> str:
    return f"{PREFIX}:shop:{platform}:{name}"
CLAIMED = f"{PREFIX}:delayed:claimed"
"""zset job_id -> claim expiry (ms): delayed jobs a pump took and is sending; back to DELAYED if it died."""
PAUSES = f"{PREFIX}:pauses"
"""hash scope -> JSON {at, reason}: scopes are "all", "platform:P", "shop:P/NAME", "campaign:ID"."""


def limit(scope: str) -> str:
    """GCRA theoretical arrival time (ms) of one rate-limit scope."""
    return f"{PREFIX}:limit:{scope}"


def cooldown(scope: str) -> str:
    """Present while a platform's own limit signal holds the scope back; its TTL is the wait."""
    return f"{PREFIX}:cooldown:{scope}"


def circuit(platform: str, shop: str | None = None) -> str:
    """hash: failures, open_until (ms), open_ms, probe, probe_until; per shop, or per platform without one."""
    return f"{PREFIX}:circuit:{platform}:{shop}" if shop else f"{PREFIX}:circuit:{platform}"


def refresh_lock(platform: str, shop: str) -> str:
    """Held while one worker refreshes a shop's token; the others wait and re-read."""
    return f"{PREFIX}:lock:refresh:{platform}:{shop}"


CAMPAIGNS = f"{PREFIX}:campaigns"
"""zset campaign id -> created at (ms)."""


def campaign(campaign_id: str) -> str:
    """hash: the campaign's record (options, times, status) and its live counters."""
    return f"{PREFIX}:campaign:{campaign_id}"


def campaign_rows(campaign_id: str) -> str:
    """hash input line -> job id, or a JSON object for an invalid row (its reason and what it named)."""
    return f"{PREFIX}:campaign:{campaign_id}:rows"


def campaign_states(campaign_id: str) -> str:
    """hash job id -> the state the campaign's counters last counted it in."""
    return f"{PREFIX}:campaign:{campaign_id}:states"


def campaign_announced(campaign_id: str, round_: int) -> str:
    """Set (NX) when the campaign's completion (of one round: the run, then each redo) was announced."""
    return f"{PREFIX}:campaign:{campaign_id}:announced:{round_}"
