"""The event outbox: one Redis Stream (``keys.EVENTS``) that tells outside readers what changed.

Every job outcome is appended by the script that records it (``lua/finish.lua``), so an outcome without its
event, or an event without its outcome, cannot exist; a shop needing re-auth, a circuit opening or closing
and a campaign finishing are appended by the write that makes each change. An entry holds ``type``, ``v``
(the contract's version) and ``data`` (JSON); as read, an event is the versioned contract of
``cancelq/schemas/event.schema.json``::

    {"id": "1764590000000-0", "type": "cancel.succeeded", "version": 1,
     "occurred_at": "2026-12-01T10:00:00.000Z", "data": {...}}

``id`` is the stream entry's id (its milliseconds are when the change was written). Readers use consumer
groups (XREADGROUP / XACK), and a reader that crashed has its entries taken over (XAUTOCLAIM). The stream is
trimmed by age (``events_retention_s``), never past an entry a consumer group has not read.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from cancelq.core import keys

VERSION = 1
TYPES = (
    "cancel.succeeded", "cancel.already_cancelled", "cancel.dead", "cancel.rejected", "cancel.aborted",
    "cancel.previewed", "campaign.finished", "shop.needs_reauth", "circuit.opened", "circuit.closed",
    "webhook.disabled", "scope.parked", "scope.lifted", "console.action",
    "order.cancelled_elsewhere", "cancel.unconfirmed", "cancel.buyer_requested",
)
OUTCOME_TYPES = {state: f"cancel.{state}" for state in
                 ("succeeded", "already_cancelled", "dead", "rejected", "aborted", "previewed")}
JOB_FIELDS = ("job_id", "client_ref", "source", "platform", "shop", "order_id", "items", "reason", "campaign_id",
              "reply", "action")


@dataclass(frozen=True)
class Event:
    """One event as read from the stream. ``wants_reply``: the job asked for a Celery reply (a field of the
    entry, so that a reader with nothing else to do need not decode ``data``)."""

    id: str
    type: str
    version: int
    data: dict[str, Any]
    wants_reply: bool = False

    @property
    def occurred_at(self) -> str:
        """ISO 8601 UTC, to the millisecond: when the change it tells of was written."""
        ms = int(self.id.split("-", 1)[0])
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "version": self.version, "occurred_at": self.occurred_at,
                "data": self.data}

    @classmethod
    def from_entry(cls, entry_id: Any, fields: Mapping[Any, Any]) -> Event:
        text = {_text(k): _text(v) for k, v in fields.items()}
        return cls(_text(entry_id), text.get("type", "?"), int(text.get("v") or VERSION),
                   json.loads(text.get("data") or "{}"), "reply" in text)

    @classmethod
    def head_of(cls, entry_id: Any, fields: Mapping[Any, Any]) -> Event:
        """The event without its ``data`` (left empty): for a reader that looks at types and replies only."""
        text = {_text(k): _text(v) for k, v in fields.items() if k not in (b"data", "data")}
        return cls(_text(entry_id), text.get("type", "?"), int(text.get("v") or VERSION), {}, "reply" in text)


def entry_args(event_type: str, data: Mapping[str, Any]) -> list[str]:
    """The field/value arguments of the stream entry (XADD ... * these), for a script or a pipeline."""
    fields = ["type", event_type, "v", str(VERSION), "data", json.dumps(data, separators=(",", ":"), default=str)]
    if data.get("reply"):
        fields += ["reply", "1"]
    return fields


def add(pipe: redis.client.Pipeline | redis.Redis, event_type: str, data: Mapping[str, Any]) -> None:
    """Append an event in the caller's transaction (the write that makes the change)."""
    fields = entry_args(event_type, data)
    pipe.xadd(keys.EVENTS, dict(zip(fields[::2], fields[1::2], strict=True)))


def job_data(job: Mapping[str, Any], job_id: str, **more: Any) -> dict[str, Any]:
    """What every event of a job says of it: its id, the producer's reference and the job's own fields."""
    data: dict[str, Any] = {"job_id": job_id}
    data.update({k: job[k] for k in JOB_FIELDS[1:] if job.get(k) not in (None, "", [])})
    data.update({k: v for k, v in more.items() if v is not None})
    return data


def matches(event_type: str, patterns: Iterable[str] | None) -> bool:
    """Whether a type matches one of the patterns (``cancel.*``, ``circuit.opened``); no patterns: all."""
    wanted = list(patterns or [])
    return not wanted or any(fnmatch.fnmatchcase(event_type, p) for p in wanted)


class Events:
    """Read, follow and trim the stream."""

    def __init__(self, client: redis.Redis, *, retention_s: float = 7 * 86400, claim_idle_ms: int = 60_000) -> None:
        self.r = client
        self.retention_ms = int(retention_s * 1000)
        self.claim_idle_ms = claim_idle_ms
        self._groups_made: set[str] = set()

    def recent(self, *, count: int = 50, types: Iterable[str] | None = None, after: str | None = None
               ) -> list[Event]:
        """The latest events (oldest first), or those after ``after``, matching ``types``."""
        entries: Any
        if after is not None:
            entries = self.r.xrange(keys.EVENTS, min=f"({after}", count=count)
        else:
            entries = list(reversed(self.r.xrevrange(keys.EVENTS, count=count) or []))
        found = (Event.from_entry(i, f) for i, f in entries)
        return [e for e in found if matches(e.type, types)]

    def whole(self, heads: Sequence[Event]) -> list[Event]:
        """The events of ``heads`` (read with ``heads_only``) with their data; one that was trimmed meanwhile
        stays as it is."""
        if not heads:
            return []
        ids = sorted((e.id for e in heads), key=_id)
        entries: Any = self.r.xrange(keys.EVENTS, min=ids[0], max=ids[-1])
        found = {_text(i): Event.from_entry(i, f) for i, f in entries or [] if f}
        return [found.get(e.id, e) for e in heads]

    def follow(self, *, after: str = "$", types: Iterable[str] | None = None, block_ms: int = 1000
               ) -> Iterator[Event]:
        """Events as they are appended, after ``after`` ("$": from now), for as long as the caller reads."""
        last = after
        while True:
            answer: Any = self.r.xread({keys.EVENTS: last}, count=100, block=block_ms)
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    event = Event.from_entry(entry_id, fields)
                    if matches(event.type, types):
                        yield event

    def ensure_group(self, group: str, *, start: str = "0") -> None:
        """Create the consumer group (reading from ``start``) unless it exists (once per reader)."""
        if group in self._groups_made:
            return
        try:
            self.r.xgroup_create(keys.EVENTS, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_made.add(group)

    def read_group(self, group: str, consumer: str, *, count: int = 100, block_ms: int | None = None,
                   take_over: bool = True, heads_only: bool = False) -> list[Event]:
        """The group's next events for ``consumer``: first (with ``take_over``) those a crashed reader left
        unacknowledged for ``claim_idle_ms`` (XAUTOCLAIM), then new ones. Acknowledge each with ``ack`` once
        handled. ``heads_only``: without their ``data`` (``Event.head_of``)."""
        self.ensure_group(group)
        entries: list[Any] = []
        if take_over:
            claimed: Any = self.r.xautoclaim(keys.EVENTS, group, consumer, self.claim_idle_ms, count=count)
            entries = list(claimed[1]) if claimed else []
        if len(entries) < count:
            answer: Any = self.r.xreadgroup(group, consumer, {keys.EVENTS: ">"}, count=count - len(entries),
                                       block=block_ms)
            for _, more in answer or []:
                entries += more
        decode = Event.head_of if heads_only else Event.from_entry
        return [decode(i, f) for i, f in entries if f]

    def ack(self, group: str, ids: Iterable[str]) -> int:
        ids = list(ids)
        return int(self.r.xack(keys.EVENTS, group, *ids)) if ids else 0

    def trim(self, now_ms: int) -> int:
        """Drop events older than the retention, but none a consumer group has not read or acknowledged."""
        floor = (max(now_ms - self.retention_ms, 0), 0)
        for group in self._groups():
            ms, seq = _id(group.get("last-delivered-id"))
            floor = min(floor, (ms, seq + 1))
            pending: Any = self.r.xpending(keys.EVENTS, _text(group["name"]))
            if pending and pending.get("min"):
                floor = min(floor, _id(pending["min"]))
        return int(self.r.xtrim(keys.EVENTS, minid=f"{floor[0]}-{floor[1]}", approximate=False))

    def _groups(self) -> list[dict[str, Any]]:
        try:
            return list(self.r.xinfo_groups(keys.EVENTS))
        except redis.ResponseError:  # no stream yet
            return []


def _id(entry_id: Any) -> tuple[int, int]:
    ms, _, seq = _text(entry_id or "0-0").partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
