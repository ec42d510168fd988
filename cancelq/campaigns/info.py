"""What the task needs of a campaign on every job, cached per process: a read per campaign per second, not per job."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cancelq.core import keys
from cancelq.gate.limits import Limit
from cancelq.runtime import Runtime

INFO_CACHE_S = 1.0


@dataclass(frozen=True)
class Info:
    """A campaign's abort and pause flags and its ``--max-rate`` limit, as read at most ``INFO_CACHE_S`` ago."""

    campaign_id: str
    aborted: bool
    paused: bool
    limit: tuple[str, Limit] | None


_info_cache: dict[tuple[str, str], tuple[float, Info | None]] = {}


def cached_info(rt: Runtime, campaign_id: str) -> Info | None:
    """The campaign's abort/pause flags and ``--max-rate`` limit; None when it has no record."""
    key = (rt.redis_url, campaign_id)
    hit = _info_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < INFO_CACHE_S:
        return hit[1]
    status, max_rate = rt.redis.hmget(keys.campaign(campaign_id), ["status", "max_rate"])
    info = None
    if status is not None:
        limit = (f"campaign:{campaign_id}", Limit(float(max_rate), 1)) if max_rate else None
        info = Info(campaign_id, status == "aborted", status == "paused", limit)
    _info_cache[key] = (time.monotonic(), info)
    return info


def forget_info(campaign_id: str) -> None:
    """Drop the campaign's cached info in this process (after this process changed its record)."""
    for key in [k for k in _info_cache if k[1] == campaign_id]:
        _info_cache.pop(key, None)


__all__ = ["INFO_CACHE_S", "Info", "cached_info", "forget_info"]
