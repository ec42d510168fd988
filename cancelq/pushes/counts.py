"""How the receivers' answers are counted, fleet-wide in Redis (every API process adds to the same counts), and
read back at scrape time by the workers' metrics endpoint (``cancelq.ops.pushmetrics``).

Two shapes: a running total per (platform, result), and per-minute buckets of answered / answered 2xx per
platform for the success rate over a window: Shopee stops pushing to an app whose success rate falls under 30%.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import redis

from cancelq.core import keys

SUCCESS = frozenset({"accepted", "duplicate", "ignored"})
"""Results answered 2xx: what a platform counts as delivered."""
MAX_WINDOW_MIN = 60


WINDOW_TTL_S = (MAX_WINDOW_MIN + 1) * 60


def window_key(now_s: float | None = None) -> str:
    """This minute's bucket."""
    return keys.push_window(int((now_s if now_s is not None else time.time()) // 60))


def count(client: redis.Redis, platform: str, result: str, *, now_s: float | None = None) -> None:
    """One answer (``result``: accepted, duplicate, ignored or ``rejected:REASON``), in one round trip. (An
    accepted or duplicate push is counted by ``PushStore.receive``, in the script that keeps it.)"""
    window = window_key(now_s)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(keys.PUSH_COUNTS, f"{platform}|{result}", 1)
    pipe.hincrby(window, f"{platform}|all", 1)
    if result in SUCCESS:
        pipe.hincrby(window, f"{platform}|ok", 1)
    pipe.expire(window, WINDOW_TTL_S)
    pipe.execute()


@dataclass
class PushCounts:
    """``totals[(platform, result)]``; ``window[platform] = (answered 2xx, answered)`` over the window."""

    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    window: dict[str, tuple[int, int]] = field(default_factory=dict)

    def success_ratio(self, platform: str) -> float | None:
        ok, answered = self.window.get(platform, (0, 0))
        return ok / answered if answered else None


def read(client: redis.Redis, *, window_s: int, now_s: float | None = None) -> PushCounts:
    """The totals and the last ``window_s`` (whole minutes, at most an hour) of buckets, in one round trip."""
    minutes = max(1, min(MAX_WINDOW_MIN, window_s // 60))
    current = int((now_s if now_s is not None else time.time()) // 60)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.PUSH_COUNTS)
    for minute in range(current - minutes + 1, current + 1):
        pipe.hgetall(keys.push_window(minute))
    totals_raw, *buckets = pipe.execute()
    counts = PushCounts()
    for name, value in totals_raw.items():
        platform, _, result = _text(name).partition("|")
        counts.totals[(platform, result)] = int(value)
    sums: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    for bucket in buckets:
        for name, value in bucket.items():
            platform, _, which = _text(name).partition("|")
            sums[platform][0 if which == "ok" else 1] += int(value)
    counts.window = {platform: (ok, answered) for platform, (ok, answered) in sums.items()}
    return counts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
