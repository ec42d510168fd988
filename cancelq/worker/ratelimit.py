"""The fleet-wide gate in front of every platform call: limits, cooldowns and open circuits.

One Lua script decides atomically, on the Redis server's clock, whether a call
may leave now. Several limits can apply to one call (per app, per shop, per API)
and all are honoured with GCRA (a token bucket of ``burst`` refilled at
``rate_per_s``). A cooldown, set when a platform says "slow down", holds its
scope for every worker. An open circuit holds its shop (or platform) until it
half-opens, when exactly one caller gets through as the probe. For a write, the
same script first checks the job's pause scopes and, as it lets the call go,
records the step in flight on the job: one round trip, and the mark is durable
before the request leaves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from . import keys

_GATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n_limits, n_cool, n_circ = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local job, probe_ms = ARGV[4], tonumber(ARGV[5])
local wait, why, dirty = 0, '', 0
local n_keys = n_limits + n_cool + n_circ
local mark_at = 6 + 2 * n_limits
local n_pauses = tonumber(ARGV[mark_at] or '0')
if n_pauses > 0 then
  local flags = redis.call('HMGET', KEYS[n_keys + 1], unpack(ARGV, mark_at + 2, mark_at + 1 + n_pauses))
  for i = 1, n_pauses do
    if flags[i] then return {0, 0, 'paused', 0, ARGV[mark_at + 1 + i], flags[i]} end
  end
end
local half_open = {}
for i = n_limits + n_cool + 1, n_limits + n_cool + n_circ do
  local c = redis.call('HMGET', KEYS[i], 'open_until', 'probe', 'probe_until', 'failures')
  local open_until = tonumber(c[1] or '0')
  if c[4] then dirty = 1 end
  if open_until > now then
    if open_until - now > wait then wait, why = open_until - now, 'circuit_open' end
  elseif open_until > 0 then
    half_open[#half_open + 1] = KEYS[i]
    local until_ = tonumber(c[3] or '0')
    if c[2] and c[2] ~= job and until_ > now then
      if until_ - now > wait then wait, why = until_ - now, 'circuit_probe' end
    end
  end
end
for i = n_limits + 1, n_limits + n_cool do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl > wait then wait, why = pttl, 'cooldown' end
end
if wait > 0 then return {0, math.ceil(wait), why, dirty} end
local tats = {}
for i = 1, n_limits do
  local interval, burst = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now) + interval
  local over = tat - now - interval * burst
  if over > 1e-6 and over > wait then wait, why = over, 'rate_limit' end
  tats[i] = tat
end
if wait > 0 then return {0, math.ceil(wait), why, dirty} end
for i = 1, n_limits do
  redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil(tats[i] - now + 1000))
end
local role = ''
for _, key in ipairs(half_open) do
  redis.call('HSET', key, 'probe', job, 'probe_until', now + probe_ms)
  role = 'probe'
end
if n_pauses > 0 then redis.call('HSET', KEYS[n_keys + 2], 'inflight', ARGV[mark_at + 1], 'step', ARGV[mark_at + 1]) end
return {1, 0, role, dirty}
"""


@dataclass(frozen=True)
class Limit:
    """``rate_per_s`` sustained, ``burst`` calls at once; ``per_api`` keys it by API too (Lazada).

    ``app`` is an optional second limit over all the shops of one app (partner / app key), honoured
    together with the shop's own.
    """

    rate_per_s: float
    burst: int = 1
    per_api: bool = False
    app: Limit | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Limit:
        app = raw.get("app")
        return cls(float(raw["rate_per_s"]), int(raw.get("burst", 1)), bool(raw.get("per_api", False)),
                   cls.parse({**app, "per_api": raw.get("per_api", False)}) if app else None)


DEFAULT_LIMITS: dict[str, Limit] = {
    # Shopee publishes no numbers; a conservative per-shop default.
    "shopee": Limit(10.0, 10),
    # Lazada limits each API, and HOT_KEY_BLOCK_EXCEPTION caps a seller at 10 qps.
    "lazada": Limit(10.0, 10, per_api=True),
    # SHOPLINE: a leaky bucket of 40 per app per store, leaking 4 per second.
    "shopline": Limit(4.0, 40),
    # Shoplazza: 2 requests per second per app and store, bucket 40.
    "shoplazza": Limit(2.0, 40),
}

APP_KEYS = {"shopee": "partner_id", "lazada": "app_key", "shopline": "app_key", "shoplazza": "client_id"}


@dataclass(frozen=True)
class Verdict:
    """``why`` says what holds the call back; on an allowed call, "probe" marks a half-open circuit's probe."""

    allowed: bool
    wait_s: float = 0.0
    why: str = ""
    dirty: bool = False
    """A circuit of the call counts failures: a job that ends well must reset it."""
    paused: tuple[str, str] | None = None
    """The write is held by a pause: (scope, the pause's value)."""


@dataclass(frozen=True)
class WriteMark:
    """A write is about to go: hold it if one of ``scopes`` is paused, else record ``step`` in flight on
    ``job_key`` in the same script that takes its slot, before the request leaves."""

    job_key: str
    step: str
    scopes: Sequence[str]


def app_scope(platform: str, credentials: Mapping[str, Any]) -> str:
    return f"{platform}:{credentials.get(APP_KEYS[platform], '-')}"


def shop_scope(platform: str, shop: str, credentials: Mapping[str, Any]) -> str:
    return f"{app_scope(platform, credentials)}:{shop}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Gate:
    def __init__(self, client: redis.Redis, *, probe_s: float = 30.0) -> None:
        self.r = client
        self.probe_ms = int(probe_s * 1000)
        self._gate = client.register_script(_GATE)

    def check(self, *, limits: Sequence[tuple[str, Limit]], cooldowns: Sequence[str], circuits: Sequence[str],
              job_id: str, mark: WriteMark | None = None) -> Verdict:
        """Take a slot in every limit, or say how long to wait and why (nothing is taken then)."""
        args: list[Any] = [len(limits), len(cooldowns), len(circuits), job_id, self.probe_ms]
        for _, limit in limits:
            args += [1000.0 / limit.rate_per_s, limit.burst]
        key_list = [keys.limit(s) for s, _ in limits] + [keys.cooldown(s) for s in cooldowns] + list(circuits)
        if mark is not None:
            args += [len(mark.scopes), mark.step, *mark.scopes]
            key_list += [keys.PAUSES, mark.job_key]
        allowed, wait_ms, why, dirty, *paused = self._gate(keys=key_list, args=args)
        return Verdict(bool(int(allowed)), int(wait_ms) / 1000, _text(why), bool(int(dirty)),
                       (_text(paused[0]), _text(paused[1])) if paused else None)

    def cool_down(self, scope: str, seconds: float) -> None:
        """Hold ``scope`` for every worker (a platform's retry-after, a ban)."""
        if seconds > 0:
            self.r.set(keys.cooldown(scope), 1, px=int(seconds * 1000))
