"""Circuit breakers per (platform, shop) and per platform.

A circuit opens after ``threshold`` transient failures in a row (no job of the
shop ended well between them, and none is older than the window), or at once on
a store lock, so one broken shop does not burn the fleet's capacity or the
app's success rate. While open, the shop's jobs wait (they are not dead). When
it half-opens, the gate (``ratelimit.py``) lets exactly one probe through; the
probe's success closes it, its failure opens it again for twice as long.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from . import keys

_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold, base_ms, max_ms, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local was_probing = open_until > 0 and open_until <= now
if force or failures >= threshold or was_probing then
  local open_ms = tonumber(redis.call('HGET', KEYS[1], 'open_ms') or '0')
  if was_probing and open_ms > 0 then open_ms = math.min(open_ms * 2, max_ms) else open_ms = base_ms end
  redis.call('HSET', KEYS[1], 'open_until', now + open_ms, 'open_ms', open_ms, 'failures', 0)
  redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
  redis.call('PEXPIRE', KEYS[1], open_ms + 86400000)
  return 1
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return 0
"""


@dataclass(frozen=True)
class CircuitSettings:
    shop_threshold: int = 5
    platform_threshold: int = 25
    open_s: float = 30.0
    max_open_s: float = 900.0
    lock_open_s: float = 600.0
    window_s: float = 60.0
    """Failures further apart than this do not add up: the count expires."""


class Circuits:
    def __init__(self, client: redis.Redis, settings: CircuitSettings | None = None) -> None:
        self.r = client
        self.settings = settings or CircuitSettings()
        self._fail = client.register_script(_FAIL)

    @staticmethod
    def keys_for(platform: str, shop: str) -> list[str]:
        return [keys.circuit(platform, shop), keys.circuit(platform)]

    def reset(self, pipe: redis.client.Pipeline, platform: str, shop: str) -> None:
        """A job ended well: the failure counts start again (queued on the caller's pipeline)."""
        for key in self.keys_for(platform, shop):
            pipe.hdel(key, "failures")

    def success(self, platform: str, shop: str) -> None:
        """A call went through: both circuits close (one DEL each, pipelined)."""
        self.r.delete(*self.keys_for(platform, shop))

    def failure(self, platform: str, shop: str, *, store_locked: bool = False) -> bool:
        """A transient failure; True when this opened the shop's circuit."""
        s = self.settings
        opened = bool(self._fail(keys=[keys.circuit(platform, shop)], args=[
            s.shop_threshold, int((s.lock_open_s if store_locked else s.open_s) * 1000), int(s.max_open_s * 1000),
            "1" if store_locked else "0", int(s.window_s * 1000)]))
        if not store_locked:
            self._fail(keys=[keys.circuit(platform)], args=[
                s.platform_threshold, int(s.open_s * 1000), int(s.max_open_s * 1000), "0", int(s.window_s * 1000)])
        return opened
