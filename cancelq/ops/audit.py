"""The audit stream: every action taken from the operators' console, append-only (``keys.AUDIT``).

An entry says who (the basic-auth user or OAuth email), when (its id), what (``action`` and its ``target``),
the dead-letter filter an action on every match used, how many it acted on and from which address. The same
action is told on the event outbox as ``console.action`` by the same script (``lua/audit.lua``), so webhooks
and the HTTP feed hear of it. Nothing secret is written: actions name jobs, campaigns, shops and filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.jobs import events

EVENT_TYPE = "console.action"


@dataclass(frozen=True)
class Action:
    """What an operator did: ``action`` (e.g. ``dead.replay``), on ``target``, matching ``filter``, ``count``
    things; ``detail``: what came of it (e.g. "2 not found")."""

    operator: str
    action: str
    target: str = ""
    filter: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    address: str = ""
    detail: str = ""

    def fields(self) -> list[str]:
        return ["operator", self.operator, "action", self.action, "target", self.target,
                "filter", json.dumps(self.filter, separators=(",", ":"), sort_keys=True), "count", str(self.count),
                "address", self.address, "detail", self.detail]

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"operator": self.operator, "action": self.action, "target": self.target,
                                "count": self.count, "address": self.address}
        if self.filter:
            data["filter"] = self.filter
        return data


@dataclass(frozen=True)
class AuditEntry:
    id: str
    action: Action

    @property
    def at(self) -> str:
        ms = int(self.id.split("-", 1)[0])
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Audit:
    """The append-only audit stream: ``record`` an action, read the ``recent`` ones (newest first)."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._record = register(client, "cancelq.ops", "audit")

    def record(self, action: Action) -> str:
        """Append the action and its event; returns the audit entry's id."""
        args = [EVENT_TYPE, str(events.VERSION), json.dumps(action.event_data(), separators=(",", ":")),
                *action.fields()]
        return str(self._record(keys=[keys.AUDIT, keys.EVENTS], args=args))

    def recent(self, count: int = 100, before: str | None = None) -> list[AuditEntry]:
        high = f"({before}" if before else "+"
        found: Any = self.r.xrevrange(keys.AUDIT, max=high, min="-", count=count) or []
        return [AuditEntry(str(entry_id), _action(fields or {})) for entry_id, fields in found]

    def size(self) -> int:
        return int(self.r.xlen(keys.AUDIT))


def _action(fields: dict[Any, Any]) -> Action:
    text = {str(k): str(v) for k, v in fields.items()}
    return Action(operator=text.get("operator", "?"), action=text.get("action", "?"), target=text.get("target", ""),
                  filter=json.loads(text.get("filter") or "{}"), count=int(text.get("count") or 0),
                  address=text.get("address", ""), detail=text.get("detail", ""))
