"""The fleet-wide gate in front of every platform call: limits, cooldowns and open circuits.

One Lua script decides atomically, on the Redis server's clock, whether a call
may leave now; all it reads lives in one hash (``keys.GATE``). Several limits
can apply to one call (per app, per shop, per API) and all are honoured with
GCRA (a token bucket of ``burst`` refilled at ``rate_per_s``). A cooldown, set
when a platform says "slow down", holds its scope for every worker. An open
circuit holds its shop (or platform) until it half-opens, when exactly one
caller gets through as the probe. For a write, the same script first checks the
job's pause scopes and, as it lets the call go, records the step in flight on
the job: one round trip, and the mark is durable before the request leaves. A
delivery's first call can also take the job's lease (``BeginHere``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys

_GATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n_limits, n_cool, n_circ = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local job, probe_ms = ARGV[4], tonumber(ARGV[5])
local at = 6 + 2 * n_limits
local n_pauses, step, begin_job, f0 = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2], at + 6
local lease, rec = {}, {}
if begin_job ~= '' then
  local flat = redis.call('HGETALL', KEYS[2])
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  if h['state'] ~= 'queued' or h['job'] ~= begin_job or (h['deliveries'] or '0') ~= '0'
     or (h['steps'] or '{}') ~= '{}' or (h['inflight'] or '') ~= '' then
    return {'begin'}
  end
  local until_ = tonumber(ARGV[at + 3]) + tonumber(ARGV[at + 4])
  if tonumber(h['created_at'] or '0') + tonumber(ARGV[at + 5]) > until_ then
    redis.call('ZADD', KEYS[3], until_, job)
  end
  lease = {'state', 'running', 'updated_at', ARGV[at + 3], 'deliveries', '1', 'lease_until', tostring(until_)}
  for i = 1, #lease, 2 do h[lease[i]] = lease[i + 1] end
  rec = h
end
local function held(wait_ms, why, dirty, scope, value)
  if #lease > 0 then redis.call('HSET', KEYS[2], unpack(lease)) end
  local out = {}
  for k, v in pairs(rec) do out[#out + 1] = k; out[#out + 1] = v end
  return {0, wait_ms, why, dirty, scope or '', value or '', out}
end
local v = #ARGV >= f0 and redis.call('HMGET', KEYS[1], unpack(ARGV, f0)) or {}
local circ_at, pause_at = n_limits + n_cool, n_limits + n_cool + 2 * n_circ
for i = 1, n_pauses do
  if v[pause_at + i] then return held(0, 'paused', 0, string.sub(ARGV[f0 + pause_at + i - 1], 7), v[pause_at + i]) end
end
local wait, why, dirty = 0, '', 0
local probes = {}
for i = 1, n_circ do
  if v[circ_at + 2 * i] then dirty = 1 end
  local c = v[circ_at + 2 * i - 1]
  if c then
    local open_until, open_ms, probe, probe_until = string.match(c, '^(%S+) (%S+) (%S+) (%S+)$')
    open_until, probe_until = tonumber(open_until), tonumber(probe_until)
    if open_until > now then
      if open_until - now > wait then wait, why = open_until - now, 'circuit_open' end
    else
      if probe ~= '-' and probe ~= job and probe_until > now and probe_until - now > wait then
        wait, why = probe_until - now, 'circuit_probe'
      end
      probes[#probes + 1] = ARGV[f0 + circ_at + 2 * i - 2]
      probes[#probes + 1] = open_until .. ' ' .. open_ms .. ' ' .. job .. ' ' .. (now + probe_ms)
    end
  end
end
for i = 1, n_cool do
  local until_ = tonumber(v[n_limits + i] or '0')
  if until_ - now > wait then wait, why = until_ - now, 'cooldown' end
end
if wait > 0 then return held(math.ceil(wait), why, dirty) end
local set = {}
for i = 1, n_limits do
  local interval, burst = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  local tat = math.max(tonumber(v[i] or '0'), now) + interval
  local over = tat - now - interval * burst
  if over > 1e-6 and over > wait then wait, why = over, 'rate_limit' end
  set[#set + 1] = ARGV[f0 + i - 1]
  set[#set + 1] = tat
end
if wait > 0 then return held(math.ceil(wait), why, dirty) end
for i = 1, #probes do set[#set + 1] = probes[i] end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
if step ~= '' then
  local n = #lease
  lease[n + 1], lease[n + 2], lease[n + 3], lease[n + 4] = 'inflight', step, 'step', step
  if begin_job ~= '' then rec['inflight'], rec['step'] = step, step end
end
if #lease > 0 then redis.call('HSET', KEYS[2], unpack(lease)) end
local out = {}
for k, v in pairs(rec) do out[#out + 1] = k; out[#out + 1] = v end
return {1, 0, #probes > 0 and 'probe' or '', dirty, '', '', out}
"""
"""One HMGET reads every field the call depends on (``keys.GATE``), one HSET takes the slots (and a half-open
circuit's probe), and a write's mark is one HSET on the job: five commands for a write, on one clock.

With ``begin`` (a delivery's first call, when its message carried the job), the same script first takes the
job's lease, as ``Ledger.begin`` would, provided the job is fresh: queued, never delivered, nothing done, and
recorded as the message says. Anything else answers ``begin`` and takes nothing: the caller begins the job the
usual way. The lease is taken whatever the gate decides, in the HSET that marks a write, and the job's record
comes back with the verdict."""

_COOL_DOWN = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 + tonumber(ARGV[2])
if until_ > tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') then redis.call('HSET', KEYS[1], ARGV[1], until_) end
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
    record: dict[str, str] | None = None
    """With ``begin``: the job as the script found it, with its lease taken (None: it was not fresh)."""


@dataclass(frozen=True)
class BeginHere:
    """Take the lease of a fresh job (the call's ``job_id``) in its first gate call: one round trip less per
    delivery.

    ``job_json`` is the job as its message carried it, in the ledger's encoding: the job is fresh only if the
    ledger holds exactly that."""

    job_json: str
    now_ms: int
    lease_ms: int
    safety_net_ms: int
    """The timer set at intake: a lease that ends before it gets its own."""


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
        self._cool_down = client.register_script(_COOL_DOWN)

    def check(self, *, limits: Sequence[tuple[str, Limit]], cooldowns: Sequence[str], circuits: Sequence[str],
              job_id: str, mark: WriteMark | None = None, begin: BeginHere | None = None) -> Verdict:
        """Take a slot in every limit, or say how long to wait and why (nothing is taken then).

        ``circuits`` are circuit names (``keys.circuit_name``). With ``begin``, a verdict whose ``record`` is
        None took nothing: the job was not fresh."""
        args: list[Any] = [len(limits), len(cooldowns), len(circuits), job_id, self.probe_ms]
        for _, limit in limits:
            args += [1000.0 / limit.rate_per_s, limit.burst]
        args += [len(mark.scopes) if mark is not None else 0, mark.step if mark is not None else ""]
        args += ([begin.job_json, begin.now_ms, begin.lease_ms, begin.safety_net_ms]
                 if begin is not None else ["", 0, 0, 0])
        args += [keys.tat_field(s) for s, _ in limits]
        args += [keys.cool_field(s) for s in cooldowns]
        for name in circuits:
            args += [keys.circuit_field(name), keys.fail_field(name)]
        key_list = [keys.GATE]
        if mark is not None:
            args += [keys.pause_field(s) for s in mark.scopes]
            key_list.append(mark.job_key)
        elif begin is not None:
            key_list.append(keys.job(job_id))
        if begin is not None:
            key_list.append(keys.DELAYED)
        result = self._gate(keys=key_list, args=args)
        if _text(result[0]) == "begin":
            return Verdict(False, why="begin")
        allowed, wait_ms, why, dirty, paused_scope, paused_value, flat = result
        return Verdict(bool(int(allowed)), int(wait_ms) / 1000, _text(why), bool(int(dirty)),
                       (_text(paused_scope), _text(paused_value)) if paused_scope else None,
                       dict(zip(flat[::2], flat[1::2], strict=True)) if begin is not None else None)

    def cool_down(self, scope: str, seconds: float) -> None:
        """Hold ``scope`` for every worker (a platform's retry-after, a ban); a longer hold already set stays."""
        if seconds > 0:
            self._cool_down(keys=[keys.GATE], args=[keys.cool_field(scope), int(seconds * 1000)])
