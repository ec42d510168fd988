"""The intake scripts' calls (``lua/intake.lua``), every key in KEYS.

A script may not build a key name from its arguments (a Redis Cluster must see every key a script touches), so
the job an idempotency key already holds cannot be read by a name the script makes. The first call passes a
hint (empty: "I expect a new job"); when the key holds another job, nothing is written and the answer names
that job, and the next call passes its key. A new job takes one call, a duplicate two.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.commands.core import Script

from cancelq.core import keys

TRIES = 5
"""Calls an intake makes at most: the key's job changes between two only when it expires or is replaced."""


@dataclass(frozen=True)
class Intake:
    job_id: str
    created: bool
    state: str


@dataclass
class Row:
    """One job of a batch intake: its idempotency key, the id it would get, its JSON, and what intake found."""

    idem_key: str
    job_id: str
    text: str
    hint: str = ""
    intake: Intake | None = None


@dataclass(frozen=True)
class Terms:
    """What every intake call passes besides the jobs: the safety net's delay and the keys' lifetime."""

    safety_net_ms: int
    ttl_s: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def intake_one(script: Script, row: Row, terms: Terms, *, force: bool) -> Intake:
    """``intake_one.lua`` for ``row`` (``row.text``: the job's JSON)."""
    for _ in range(TRIES):
        args: list[Any] = [row.job_id, row.text, _now_ms(), "1" if force else "0", terms.safety_net_ms,
                           terms.ttl_s, row.hint]
        result = script(keys=[row.idem_key, keys.job(row.job_id), keys.DELAYED, keys.job(row.hint or row.job_id)],
                        args=args)
        if int(result[1]) >= 0:
            return Intake(job_id=str(result[0]), created=bool(int(result[1])), state=str(result[2]))
        row.hint = str(result[0])
    raise RuntimeError(f"the idempotency key of job {row.job_id} kept changing during intake")


def intake_rows(script: Script, rows: Sequence[Row], terms: Terms) -> list[Intake]:
    """``intake_many.lua`` for ``rows``: one call, and one more for the duplicates among them."""
    pending = list(rows)
    for _ in range(TRIES):
        pending = _round(script, pending, terms)
        if not pending:
            return [row.intake for row in rows if row.intake is not None]
    raise RuntimeError("idempotency keys kept changing during a batch intake")


def _round(script: Script, rows: Sequence[Row], terms: Terms) -> list[Row]:
    """One call over ``rows``; returns the rows to send again, each with its hint now set."""
    key_list: list[str] = [keys.DELAYED]
    args: list[Any] = [_now_ms(), terms.safety_net_ms, terms.ttl_s]
    for row in rows:
        key_list += [row.idem_key, keys.job(row.job_id), *([keys.job(row.hint)] if row.hint else [])]
        args.append(f"{row.job_id}\n{row.hint}\n{row.text}")
    lines = str(script(keys=key_list, args=args)).split("\n")
    again: list[Row] = []
    for row, line in zip(rows, lines, strict=True):
        job_id, created, state = line.split(" ")
        if created == "-1":
            row.hint = job_id
            again.append(row)
        else:
            row.intake = Intake(job_id=job_id, created=created == "1", state=state)
    return again
