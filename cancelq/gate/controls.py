"""Operators' controls: pause and resume writes by scope, and a snapshot of what holds jobs back.

Scopes: ``all``, ``platform:shopee``, ``shop:shopee/my-shop``, ``campaign:ID``.
While a scope is paused no write call of a job in it leaves any worker: the job
waits and continues after ``resume``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from cancelq.core import keys

SCOPE_KINDS = ("all", "platform", "shop", "campaign")


class ScopeError(ValueError):
    pass


def scope_name(kind: str, value: str | None = None) -> str:
    if kind not in SCOPE_KINDS:
        raise ScopeError(f"unknown scope {kind!r}; use one of {', '.join(SCOPE_KINDS)}")
    if kind == "all":
        return "all"
    if not value:
        raise ScopeError(f"a {kind} scope needs a value")
    return f"{kind}:{value}"


def job_scopes(job: dict[str, Any]) -> list[str]:
    scopes = ["all", f"platform:{job.get('platform')}", f"shop:{job.get('platform')}/{job.get('shop')}"]
    if job.get("campaign_id"):
        scopes.append(f"campaign:{job['campaign_id']}")
    return scopes


def is_abort(pause_value: str | None) -> bool:
    """Whether a pause-scope value is a campaign abort (``abort`` sets one; the gate reads it before writes)."""
    if not pause_value or "abort" not in pause_value:
        return False
    try:
        return bool(json.loads(pause_value).get("abort"))
    except (ValueError, AttributeError):
        return False


def pause(client: redis.Redis, scope: str, reason: str = "", by: str = "") -> None:
    """Pause ``scope`` (an exact scope name: ``client.CancelQ.pause`` checks names first)."""
    client.hset(keys.GATE, keys.pause_field(scope),
                json.dumps({"at": int(time.time() * 1000), "reason": reason, "by": by}))


def pauses(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every pause by scope: when (``at``, ms), why (``reason``), who (``by``) and whether it is an ``abort``."""
    found = {}
    for name, value in client.hgetall(keys.GATE).items():
        kind, _, scope = str(name).partition(":")
        if kind == "pause":
            try:
                found[scope] = dict(json.loads(value))
            except (ValueError, TypeError):
                found[scope] = {"reason": str(value)}
    return dict(sorted(found.items()))


def resume(client: redis.Redis, scope: str) -> bool:
    """Lift a pause; a campaign's abort marker stays (an aborted campaign does not come back)."""
    value = client.hget(keys.GATE, keys.pause_field(scope))
    if value is None or json.loads(value).get("abort"):
        return False
    return bool(client.hdel(keys.GATE, keys.pause_field(scope)))


@dataclass
class Snapshot:
    paused: list[str] = field(default_factory=list)
    open_circuits: list[str] = field(default_factory=list)
    cooldowns: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    pauses: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each pause: its ``reason``, who set it (``by``), when (``at``, ms) and whether it is an ``abort``."""
    circuits: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each circuit that opened: ``probe_in_s`` (0: half-open, the next job probes) and the ``probe`` job."""


def _pause_view(value: str) -> dict[str, Any]:
    try:
        info = json.loads(value)
    except ValueError:
        info = {}
    return {"reason": info.get("reason", ""), "by": info.get("by", ""), "at": info.get("at"),
            "abort": bool(info.get("abort"))}


def _circuit_view(value: str, now_ms: int) -> dict[str, Any]:
    open_until, _, probe, _ = ([*str(value).split(" "), "", "", "", ""])[:4]
    try:
        probe_in_s = max(0.0, (float(open_until) - now_ms) / 1000)
    except ValueError:
        probe_in_s = 0.0
    return {"probe_in_s": round(probe_in_s, 1), "probe": probe if probe not in ("", "-") else None}


def snapshot(client: redis.Redis) -> Snapshot:
    """Pauses, circuits that opened (and have not closed), active cooldowns and limit scopes in use: one read."""
    now_ms = int(time.time() * 1000)
    snap = Snapshot()
    for name, value in client.hgetall(keys.GATE).items():
        kind, _, scope = str(name).partition(":")
        if kind == "pause":
            snap.paused.append(scope)
            snap.pauses[scope] = _pause_view(str(value))
        elif kind == "circuit":
            snap.open_circuits.append(scope)
            snap.circuits[scope] = _circuit_view(str(value), now_ms)
        elif kind == "cool" and float(value) > now_ms:
            snap.cooldowns[scope] = (float(value) - now_ms) / 1000
        elif kind == "tat":
            snap.limits[scope] = max(0.0, (float(value) - now_ms) / 1000)
    snap.paused.sort()
    snap.open_circuits.sort()
    return snap
