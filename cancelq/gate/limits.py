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
delivery's first call can also take the job's lease (``BeginHere``); every other
call carries the delivery's fencing token, and the script refuses it (``fenced``)
when the job's lease has passed to another delivery, and renews the lease once a
third of it is used. The script is ``lua/gate.lua``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.durability import Durable
from cancelq.core.lua import register, source
from cancelq.gate.budget import Budget
from cancelq.jobs.states import lua_preamble


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
class Reservation:
    """The slot a held call reserved: when (the Redis server's clock, ms) it may go, in which limit scopes.
    Carried by the job to its next gate call (in the worker for a short wait, on the job's record for a long
    one), which then goes without taking another slot. Unused, it costs its scopes that one slot."""

    at_ms: int
    scopes: tuple[str, ...]

    def encoded(self) -> str:
        return json.dumps([self.at_ms, list(self.scopes)], separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Reservation | None:
        """The reservation a record kept, or None (none kept, or not one)."""
        try:
            at_ms, scopes = json.loads(text) if text else (0, ())
            return cls(int(at_ms), tuple(str(s) for s in scopes)) if at_ms else None
        except (TypeError, ValueError):
            return None


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
    fenced: bool = False
    """The job's lease is no longer this delivery's: nothing was taken or written."""
    reservation: Reservation | None = None
    """A call held by a limit, asked to ``reserve``: the slot it now holds."""


@dataclass(frozen=True)
class BeginHere:
    """Take the lease of a fresh job (the call's ``job_id``) in its first gate call: one round trip less per
    delivery.

    ``job_json`` is the job as its message carried it, in the ledger's encoding: the job is fresh only if the
    ledger holds exactly that."""

    job_json: str


@dataclass(frozen=True)
class Lease:
    """What the gate needs to take, check or renew a job's lease: its length, the intake's safety net
    (a lease that ends before it gets its own timer), and the delivery's fencing token once it has one."""

    lease_ms: int
    safety_net_ms: int
    fence: str = ""


@dataclass(frozen=True)
class WriteMark:
    """A write is about to go: hold it if one of ``scopes`` is paused (or, with a ``budget``, the shop's
    cancellation budget is spent), else record ``step`` in flight on the job in the same script that takes its
    slot (and its place in the budget), before the request leaves."""

    step: str
    scopes: Sequence[str]
    budget: Budget | None = None


def app_scope(platform: str, credentials: Mapping[str, Any]) -> str:
    return f"{platform}:{credentials.get(APP_KEYS[platform], '-')}"


def shop_scope(platform: str, shop: str, credentials: Mapping[str, Any]) -> str:
    return f"{app_scope(platform, credentials)}:{shop}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _reserved(call: Call, slot: int, mask: str) -> Reservation | None:
    if not slot:
        return None
    return Reservation(slot, tuple(scope for (scope, _), bit in zip(call.limits, mask, strict=False) if bit == "1"))


@dataclass(frozen=True)
class Call:
    """One call's question to the gate: the limits to take a slot in, the scopes whose cooldowns hold it,
    the circuits it goes through, and (for a job) whose lease it runs under."""

    limits: Sequence[tuple[str, Limit]]
    cooldowns: Sequence[str]
    circuits: Sequence[str]
    job_id: str
    lease: Lease | None = None
    mark: WriteMark | None = None
    begin: BeginHere | None = None
    reserve: bool = False
    reservation: Reservation | None = None


class Gate:
    """The fleet-wide gate's script, and the cooldowns platforms ask for."""

    def __init__(self, client: redis.Redis, *, probe_s: float = 30.0, durable: Durable | None = None) -> None:
        self.r = client
        self.probe_ms = int(probe_s * 1000)
        self.durable = durable or Durable()
        jobs = lua_preamble() + source("cancelq.jobs", "lease")
        self._gate = register(client, "cancelq.gate", "gate", preamble=jobs)
        self._cool_down = register(client, "cancelq.gate", "cool_down")

    def check(self, *, limits: Sequence[tuple[str, Limit]], cooldowns: Sequence[str], circuits: Sequence[str],
              job_id: str, lease: Lease | None = None, mark: WriteMark | None = None,
              begin: BeginHere | None = None, reserve: bool = False,
              reservation: Reservation | None = None) -> Verdict:
        """Take a slot in every limit, or say how long to wait and why (nothing is taken then, unless
        ``reserve``: a call held by a limit then reserves its next slot, returned as ``Verdict.reservation``;
        a call that carries its ``reservation`` takes that slot instead of a new one).

        ``circuits`` are circuit names (``keys.circuit_name``). With ``begin``, a verdict whose ``record`` is
        None took nothing: the job was not fresh. With ``lease.fence``, a verdict ``fenced`` took nothing: the
        job's lease is another delivery's."""
        call = Call(limits, cooldowns, circuits, job_id, lease, mark, begin, reserve, reservation)
        if mark is not None and self.durable.on:  # the in-flight mark, then WAIT for its replicas
            result = self.durable.run(self.r, self._gate, self._keys(call), self._args(call), "inflight", job_id=job_id)
        else:
            result = self._gate(keys=self._keys(call), args=self._args(call))
        kind = _text(result[0])
        if kind == "begin":
            return Verdict(False, why="begin")
        if kind == "fenced":
            return Verdict(False, why="fenced", fenced=True)
        allowed, wait_ms, why, dirty, paused_scope, paused_value, flat, slot, mask = result
        return Verdict(bool(int(allowed)), int(wait_ms) / 1000, _text(why), bool(int(dirty)),
                       (_text(paused_scope), _text(paused_value)) if paused_scope else None,
                       dict(zip(flat[::2], flat[1::2], strict=True)) if call.begin is not None else None,
                       reservation=_reserved(call, int(slot), _text(mask)))

    def _args(self, call: Call) -> list[Any]:
        lease, mark = call.lease, call.mark
        args: list[Any] = [len(call.limits), len(call.cooldowns), len(call.circuits), call.job_id, self.probe_ms]
        for _, limit in call.limits:
            args += [1000.0 / limit.rate_per_s, limit.burst]
        args += [len(mark.scopes) if mark is not None else 0, mark.step if mark is not None else "",
                 call.begin.job_json if call.begin is not None else "", int(time.time() * 1000),
                 lease.lease_ms if lease else 0, lease.safety_net_ms if lease else 0, lease.fence if lease else ""]
        budget = mark.budget if mark is not None else None
        args += [budget.max, int(budget.window_s * 1000), budget.approve_field] if budget is not None else [-1, 0, ""]
        held = call.reservation
        args += [held.at_ms if held else 0, "1" if call.reserve else "0",
                 "".join("1" if held and scope in held.scopes else "0" for scope, _ in call.limits)]
        args += [keys.tat_field(s) for s, _ in call.limits]
        args += [keys.cool_field(s) for s in call.cooldowns]
        for name in call.circuits:
            args += [keys.circuit_field(name), keys.fail_field(name)]
        if mark is not None:
            args += [keys.pause_field(s) for s in mark.scopes]
        return args

    @staticmethod
    def _keys(call: Call) -> list[str]:
        if call.mark is not None and call.mark.budget is not None:
            return [keys.GATE, keys.job(call.job_id), keys.DELAYED, call.mark.budget.key]
        if call.begin is not None:
            return [keys.GATE, keys.job(call.job_id), keys.DELAYED]
        if (call.lease is not None and call.lease.fence) or call.mark is not None:
            return [keys.GATE, keys.job(call.job_id)]
        return [keys.GATE]

    def cool_down(self, scope: str, seconds: float) -> None:
        """Hold ``scope`` for every worker (a platform's retry-after, a ban); a longer hold already set stays."""
        if seconds > 0:
            self._cool_down(keys=[keys.GATE], args=[keys.cool_field(scope), int(seconds * 1000)])
