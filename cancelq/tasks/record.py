"""What a delivery writes: its outcome, its dead letter, its rejection, its wait, each one fenced write.

Every write carries the fencing token of the delivery's lease (``JobRecord.fence``); the ledger's scripts
refuse a stale one (``Fenced``), and a delivery that learns it was fenced stops at once, logs
``lease_lost`` once, and writes nothing more.
"""

from __future__ import annotations

from typing import Any

import structlog

from cancelq.campaigns.tracking import JobHook
from cancelq.core import counters, keys
from cancelq.jobs import events
from cancelq.jobs.ledger import Fenced, JobRecord, add_event, now_ms
from cancelq.jobs.states import JobState
from cancelq.platforms.errors import PlatformError
from cancelq.runtime import Runtime
from cancelq.tasks.endings import dead_lettered, waiting

log = structlog.get_logger("cancelq.job")


class Recorder:
    """The writes of one delivery of one job, under its lease. ``ending`` is what the task raises after it
    for Flower (a dead letter as FAILURE, a wait as RETRY); ``fenced`` is set once a write was refused."""

    rt: Runtime
    rec: JobRecord
    job_id: str
    campaign: JobHook | None
    log: Any

    def __init__(self, rt: Runtime, job_id: str) -> None:
        self.rt = rt
        self.job_id = job_id
        self.campaign = None
        self.log = log.bind(job_id=job_id)
        self.ending: Exception | None = None
        self.fenced = False
        self.evidence: dict[str, Any] = {}
        """What a cancelled outcome rests on, for its event: the write's and the confirming read's request ids."""

    def lease_lost(self, why: str) -> None:
        if not self.fenced:
            self.fenced = True
            self.log.warning("lease_lost", why=why)
        self.ending = None

    def finish(self, state: str, *, attribution: str = "", reset_circuits: bool = False) -> None:
        if state == JobState.ALREADY_CANCELLED and attribution == "before_us" and self.rec.write_refused:
            attribution = "refused"
        events = add_event(self.rec, state, **({"attribution": attribution} if attribution else {}))
        fields = {"steps": self.rec.steps, "events": events, "attribution": attribution}
        cancelled = state in (JobState.SUCCEEDED, JobState.ALREADY_CANCELLED)
        event = self._event(attribution=attribution or None, evidence=dict(self.evidence) if cancelled else None)
        if self._final(state, fields, event, reset_circuits=reset_circuits):
            self.log.info("finished", outcome=state, attribution=attribution or None, attempts=self.rec.attempts,
                          **_last_request(self.rec.steps))
            counters.job_finished(self.rec.job.get("platform", "?"), state)
            self.ending = None

    def dead(self, kind: str, error: Exception) -> None:
        record = error_record(error, self.rec.job.get("platform", "?"))
        self.rec.events = add_event(self.rec, "dead", kind=kind, **brief(record))
        attempts = self.rec.attempts + (1 if kind == "exhausted" else 0)
        entry = {**self.rt.dead_letters.entry_for(self.rec, record, kind), "attempts": attempts}  # as the job says
        fields = {"steps": self.rec.steps, "events": self.rec.events, "last_error": record, "dead_kind": kind,
                  "attempts": attempts}
        event = self._event(dead_kind=kind, error=record, attempts=fields["attempts"])
        if not self._final(JobState.DEAD, fields, event, index=keys.DLQ, entry=entry):
            return
        self.rt.dead_letters.trim()
        self.log.warning("dead_lettered", kind=kind, **brief(record))
        counters.job_finished(self.rec.job.get("platform", "?"), "dead", record.get("code"))
        self.ending = dead_lettered(kind, record)

    def reject(self, reason: str) -> None:
        events = add_event(self.rec, "rejected", reason=reason)
        event = self._event(reject_reason=reason)
        if self._final(JobState.REJECTED, {"reject_reason": reason, "events": events}, event, index=keys.REJECTED):
            self.log.warning("job_rejected", reason=reason)
            counters.job_finished(self.rec.job.get("platform", "?"), "rejected")
            self.ending = None

    def wait_record(self, record: dict[str, Any], delay_s: float, counts: bool, why: str,
                    reservation: str = "") -> None:
        attempts = self.rec.attempts + (1 if counts else 0)
        events = add_event(self.rec, "retry", why=why, delay_s=round(delay_s, 3), **brief(record))
        fields = {"attempts": attempts, "last_error": record, "events": events, "steps": self.rec.steps,
                  "inflight": self.rec.inflight, "wait_reason": why, "write_refused": self.rec.write_refused,
                  "reservation": reservation}
        try:
            self.rt.ledger.wait(self.rec, due_ms=now_ms() + int(delay_s * 1000), fields=fields)
        except Fenced as exc:
            self.lease_lost(str(exc))
            return
        if self.campaign is not None:
            self.campaign.moved("")
        self.log.info("waiting", why=why, delay_s=round(delay_s, 3), attempt=attempts, **brief(record))
        counters.wait_scheduled(self.rec.job.get("platform", "?"), record.get("error_class"), why, counts)
        self.ending = waiting(record, why=why, delay_s=delay_s)

    def _event(self, **more: Any) -> dict[str, Any]:
        """The outcome event's data: the job, its attempts, and what the outcome adds."""
        return events.job_data(self.rec.job, self.job_id, **{"attempts": self.rec.attempts, **more})

    def _final(self, state: str, fields: dict[str, Any], event: dict[str, Any], *, index: str | None = None,
               entry: dict[str, Any] | None = None, reset_circuits: bool = False) -> bool:
        """The final write and its event, with the campaign's count of the move in the same pipeline; False
        when fenced."""
        ledger = self.rt.ledger
        dead_letter = self.rt.dead_letters.write_for(entry) if entry is not None else None
        pipe = self.rt.redis.pipeline(transaction=False)  # a partial write only leaves a timer that finds it final
        check = ledger.finish_in(pipe, self.rec, state=state, fields=fields, event=event, index=index,
                                 dead_letter=dead_letter)
        if reset_circuits:
            self.rt.circuits.reset(pipe, self.rec.job.get("platform", "?"), self.rec.job.get("shop", "?"))
        if self.campaign is not None:
            self.campaign.move_with(pipe, "")  # counted as the ledger says, so a refused write counts nothing
        waited = self.rt.durable.queue(pipe)
        results = pipe.execute(raise_on_error=False)
        try:
            rerun = check(results[0])
        except Fenced as exc:
            self.lease_lost(str(exc))
            return False
        if waited:
            self.rt.durable.checked(results.pop(), "final", job_id=self.job_id)
        if self.campaign is not None:
            if rerun:
                self.campaign.moved("")
            else:
                self.campaign.after(results, "")
        return True


def error_record(error: Exception, platform: str) -> dict[str, Any]:
    if isinstance(error, PlatformError):
        return error.to_dict()
    return {"error_class": type(error).__name__, "platform": platform, "code": "internal",
            "message": str(error)[:500], "http_status": None, "request_id": None, "step": None}


def brief(record: dict[str, Any]) -> dict[str, Any]:
    return {"error_class": record.get("error_class"), "code": record.get("code"),
            "request_id": record.get("request_id")}


def _last_request(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The platform's request id of the job's last step, for its one INFO line (the steps log at DEBUG)."""
    last = max(steps.items(), key=lambda item: item[1].get("at") or 0, default=None)
    return {"step": last[0], "request_id": last[1].get("request_id")} if last is not None else {}


__all__ = ["Recorder", "brief", "error_record"]
