"""Ending an open job on a push's evidence, and announcing an order cancelled outside cancelq.

A push (or the reconciliation standing in for a lost one) made a worker read the order, and the read says it is
cancelled. The job ends through one script (``lua/settle.lua``) that compares the job's fields with the ones the
outcome was decided on and writes the outcome with its event only if none changed and no live delivery holds the
job. The compare and the write are one atomic step, so no lease is needed to keep a delivery out in between: a
delivery that began since changed ``fence`` and ``state`` (refused: ``changed`` or ``busy``), and one that was
paused past its lease finds a new fencing token and a final state (its writes are refused).

Why not wake the job instead (due now, so that its own delivery reads and ends it)? That costs a second read of
the same order and a trip through the pump and the broker (the "within a second" promise would rest on both),
and the push's evidence would have to travel in the job's hash to a delivery that knows nothing of pushes. The
attribution is the tasks' own either way: ``policy.after_read`` for a write in flight.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import structlog

from cancelq.campaigns.tracking import JobHook
from cancelq.core import counters, keys
from cancelq.core.lua import register
from cancelq.jobs import events
from cancelq.jobs.ledger import JobRecord, add_event, now_ms
from cancelq.jobs.states import JobState, lua_preamble
from cancelq.platforms.base import OrderStatus
from cancelq.pushes.notice import PushNotice
from cancelq.runtime import Runtime
from cancelq.tasks.policy import BEFORE_US, CONFIRMED, REFUSED, after_read

log = structlog.get_logger("cancelq.pushes")

COMPARED = ("state", "fence", "updated_at", "inflight", "inflight_at", "write_refused", "runs", "steps")
"""The job's fields the outcome is decided on: the script refuses the write if any of them changed."""
TRIES = 3


@dataclass(frozen=True)
class Evidence:
    """What made the worker read the order: a platform's push (its message id and time) or the reconciliation."""

    source: str
    message_id: str = ""
    pushed_at_ms: int = 0

    @classmethod
    def of(cls, notice: PushNotice) -> Evidence:
        return cls("push", notice.message_id, notice.pushed_at_ms)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.message_id:
            out["push_message_id"] = self.message_id
        if self.pushed_at_ms:
            out["pushed_at_ms"] = self.pushed_at_ms
        return out


@dataclass(frozen=True)
class Ending:
    """The outcome an open job takes from a read that found its order cancelled. ``elsewhere``: no write of ours
    was sent (or the platform refused it), so the cancel is someone else's."""

    state: str
    attribution: str
    elsewhere: bool


def ending_for(rec: JobRecord, status: OrderStatus, writes: Collection[str]) -> Ending:
    """By the tasks' attribution rules: succeeded when our write was accepted (its step recorded) or was in
    flight and the cancel could be ours (``after_read``); else already cancelled."""
    if any(name in rec.steps for name in writes):
        return Ending(JobState.SUCCEEDED, CONFIRMED, elsewhere=False)
    if rec.inflight:
        write_at = rec.inflight_at / 1000 if rec.inflight_at else None
        decision = after_read(status.state, status=status, write_at=write_at)
        refused = decision.state == JobState.ALREADY_CANCELLED and decision.attribution == BEFORE_US
        return Ending(decision.state, REFUSED if refused and rec.write_refused else decision.attribution,
                      elsewhere=False)
    return Ending(JobState.ALREADY_CANCELLED, REFUSED if rec.write_refused else BEFORE_US, elsewhere=True)


def elsewhere_data(platform: str, shop: str, order_id: str, status: OrderStatus, evidence: Evidence,
                   job_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"platform": platform, "shop": shop, "order_id": order_id,
                            "order_status": status.raw_status, "read_request_id": status.request_id,
                            **evidence.fields()}
    if job_id:
        data["job_id"] = job_id
    return data


class Settler:
    """The processor's writes to the ledger: an open job ended on a read's evidence, or an order announced as
    cancelled elsewhere."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._settle = register(rt.redis, "cancelq.pushes", "settle", preamble=lua_preamble())
        self._elsewhere = register(rt.redis, "cancelq.pushes", "elsewhere")

    @property
    def marker_px(self) -> int:
        return int(self.rt.settings.ledger_ttl_s * 1000)

    def end(self, job_id: str, status: OrderStatus, evidence: Evidence, *, writes: Collection[str]) -> str:
        """End the job if it is open: ``ended`` or why not (missing, final, dry_run, busy, changed)."""
        why = "changed"
        for _ in range(TRIES):
            raw: dict[str, str] = self.rt.redis.hgetall(keys.job(job_id))  # type: ignore[assignment]
            if not raw:
                return "missing"
            rec = JobRecord.from_hash(raw)
            if rec.final:
                return "final"
            if rec.job.get("dry_run"):
                return "dry_run"
            why = self._write(raw, rec, status, evidence, writes)
            if why != "changed":
                return why
        return why

    def _write(self, raw: dict[str, str], rec: JobRecord, status: OrderStatus, evidence: Evidence,
               writes: Collection[str]) -> str:
        ending = ending_for(rec, status, writes)
        key_list, args = self._call(raw, rec, ending, status, evidence, writes)
        answer = self._settle(keys=key_list, args=args)
        if int(answer[0]) != 1:
            return str(answer[1])
        hook = JobHook.of(self.rt, rec.job_id, rec.job)
        if hook is not None:
            hook.moved("")
        counters.job_finished(rec.job.get("platform", "?"), ending.state)
        log.info("finished", job_id=rec.job_id, outcome=ending.state, attribution=ending.attribution,
                 order_status=status.raw_status, request_id=status.request_id, **evidence.fields())
        return "ended"

    def _call(self, raw: dict[str, str], rec: JobRecord, ending: Ending, status: OrderStatus, evidence: Evidence,
              writes: Collection[str]) -> tuple[list[str], list[Any]]:
        now = now_ms()
        history = add_event(rec, ending.state, attribution=ending.attribution, **evidence.fields())
        fields: dict[str, Any] = {"state": ending.state, "finished_at": now, "updated_at": now, "inflight": "",
                                  "due_at": "", "lease_until": "", "attribution": ending.attribution,
                                  "events": json.dumps(history, separators=(",", ":"), default=str)}
        proof = {**evidence.fields(), "read_request_id": status.request_id, "order_status": status.raw_status}
        written = [rec.steps[name].get("request_id") for name in writes if name in rec.steps]
        if written:
            proof["write_request_id"] = written[-1]
        data = events.job_data(rec.job, rec.job_id, attempts=rec.attempts, attribution=ending.attribution,
                               evidence=proof)
        entry = events.entry_args(events.OUTCOME_TYPES[ending.state], data)
        expected = [item for name in COMPARED for item in (name, raw.get(name, ""))]
        flat = [item for pair in fields.items() for item in pair]
        key_list = [keys.job(rec.job_id), keys.DELAYED, keys.EVENTS]
        args: list[Any] = [now, rec.job_id, int(self.rt.settings.ledger_ttl_s), len(COMPARED), *expected,
                           len(flat), *flat, len(entry), *entry]
        if ending.elsewhere:
            job = rec.job
            key_list.append(keys.push_elsewhere(job.get("platform", ""), job.get("shop", ""), job.get("order_id", "")))
            told = events.entry_args("order.cancelled_elsewhere", elsewhere_data(
                job.get("platform", ""), job.get("shop", ""), job.get("order_id", ""), status, evidence, rec.job_id))
            args += [self.marker_px, len(told), *told]
        return key_list, args

    def elsewhere(self, platform: str, shop: str, order_id: str, status: OrderStatus, evidence: Evidence) -> bool:
        """Announce ``order.cancelled_elsewhere`` for an order with no open job of ours, once per order."""
        entry = events.entry_args("order.cancelled_elsewhere",
                                  elsewhere_data(platform, shop, order_id, status, evidence))
        told = bool(int(self._elsewhere(keys=[keys.push_elsewhere(platform, shop, order_id), keys.EVENTS],
                                        args=[self.marker_px, *entry])))
        if told:
            log.info("cancelled_elsewhere", platform=platform, shop=shop, order_id=order_id,
                     order_status=status.raw_status, **evidence.fields())
        return told


__all__ = ["Ending", "Evidence", "Settler", "ending_for"]
