"""The event outbox after a chaos run: every final job has exactly one outcome event per run, none without its
job, and no event holds a secret.

Read from the stream itself (``keys.EVENTS``), not through cancelq's reader, and compared with the ledger.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord

OUTCOMES = ("succeeded", "already_cancelled", "dead", "rejected", "aborted", "previewed")
OUTCOME_TYPES = frozenset(f"cancel.{o}" for o in OUTCOMES)


def outcome_events(client: redis.Redis) -> tuple[Counter[str], dict[str, str], list[str]]:
    """(outcome events per job id, the last outcome type per job id, every event's raw data)."""
    counts: Counter[str] = Counter()
    last: dict[str, str] = {}
    bodies: list[str] = []
    start = "-"
    while True:
        entries: Any = client.xrange(keys.EVENTS, min=start, count=5000)
        for entry_id, fields in entries:
            text = {_s(k): _s(v) for k, v in fields.items()}
            bodies.append(text.get("data", ""))
            if text.get("type", "") in OUTCOME_TYPES:  # cancel.unconfirmed tells of no outcome
                job_id = str(json.loads(text.get("data") or "{}").get("job_id"))
                counts[job_id] += 1
                last[job_id] = text["type"].removeprefix("cancel.")
        if len(entries) < 5000:
            return counts, last, bodies
        start = "(" + _s(entries[-1][0])


def check(client: redis.Redis, records: Mapping[str, JobRecord], secrets: Iterable[str]) -> list[str]:
    """Every way the outbox contradicts the ledger, one line each (empty: it agrees)."""
    counts, last, bodies = outcome_events(client)
    wrong = [f"{job_id}({r.state}: {counts[job_id]} events for {r.runs} run(s))" for job_id, r in records.items()
             if r.final and counts[job_id] != r.runs]
    wrong += [f"{job_id}(ledger {r.state}, last event {last.get(job_id)})" for job_id, r in records.items()
              if r.final and counts[job_id] and last.get(job_id) != r.state]
    wrong += [f"{job_id}(an outcome event, no final job)" for job_id in counts
              if job_id not in records or not records[job_id].final]
    leaked = [s for s in secrets if s and len(s) >= 8 and any(s in body for body in bodies)]
    wrong += [f"a secret ({s[:3]}...) in an event" for s in leaked]
    return wrong


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
