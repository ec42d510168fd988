"""The task's side of campaigns: count a job's moves, honour abort, pause and ``--max-rate``, announce the end.

``JobHook.start`` is the only call the task makes for a job outside a campaign, and it costs nothing then
(no campaign id). For a campaign's job it reads the campaign's flags from a per-process cache (one
read per campaign per second, not per job) and counts the job as running; every later move is one
script call, the one that counts the last job out announces the completion (a log line; the campaign's
webhook is a signed endpoint of ``cancelq.delivery`` fed by its ``campaign.finished`` event).
"""

from __future__ import annotations

from typing import Any

import redis
import structlog

from cancelq.campaigns.store import Info, cached_info, store
from cancelq.core import keys
from cancelq.gate.delivery import Aborted, Deferred
from cancelq.gate.limits import Limit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime

log = structlog.get_logger("cancelq.campaign")


class JobHook:
    """What the task does for a job of a campaign: count its moves, honour abort, pause and ``--max-rate``."""

    def __init__(self, rt: Runtime, job_id: str, info: Info) -> None:
        self.rt = rt
        self.job_id = job_id
        self.info = info

    @classmethod
    def start(cls, rt: Runtime, job_id: str, job: dict[str, Any]) -> JobHook | None:
        """The hook of a job that belongs to a campaign with a record (counted as running now), else None."""
        hook = cls.of(rt, job_id, job)
        if hook is not None:
            hook.moved("running")
        return hook

    @classmethod
    def of(cls, rt: Runtime, job_id: str, job: dict[str, Any]) -> JobHook | None:
        """The hook of a job that belongs to a campaign with a record, not counted yet; else None."""
        campaign_id = job.get("campaign_id")
        info = cached_info(rt, str(campaign_id)) if campaign_id else None
        return cls(rt, job_id, info) if info is not None else None

    def holds(self, *, dry_run: bool) -> bool:
        """Whether ``check`` would hold the job now (aborted, or a paused dry run)."""
        return self.info.aborted or (dry_run and self.info.paused)

    @property
    def limit(self) -> tuple[str, Limit] | None:
        return self.info.limit

    def check(self, *, dry_run: bool) -> None:
        """Before a delivery's first call: raise Aborted, or Deferred for a paused dry run (it sends no write
        for the pause check to hold)."""
        if self.info.aborted:
            raise Aborted(f"campaign {self.info.campaign_id} was aborted")
        if dry_run and self.info.paused:
            raise Deferred(self.rt.settings.pause_recheck_s, f"paused:campaign:{self.info.campaign_id}")

    def moved(self, state: str) -> None:
        if store(self.rt).move(self.info.campaign_id, self.job_id, state):
            announce(self.rt, self.info.campaign_id, background=True)

    def move_with(self, pipe: redis.client.Pipeline, state: str) -> None:
        """Count the move in the caller's pipeline (with the ledger's own write); ``after`` reads its result."""
        store(self.rt).move_in(pipe, self.info.campaign_id, self.job_id, state)

    def after(self, results: list[Any], state: str) -> None:
        if store(self.rt).moved_by(results[-1], self.info.campaign_id, self.job_id, state):
            announce(self.rt, self.info.campaign_id, background=True)


def announce(rt: Runtime, campaign_id: str, *, background: bool) -> bool:
    """Log the campaign's completion, once per round (SET NX). Its webhook is no longer posted from here: the
    ``campaign.finished`` event (appended by the script that finished the round) reaches the campaign's own
    endpoint through ``cancelq.delivery``, signed and retried (``campaign run --webhook`` makes that endpoint).
    ``background`` is kept for the callers; the log line costs nothing to write in the caller's thread."""
    campaign = store(rt).get(campaign_id)
    guard = keys.campaign_announced(campaign_id, campaign.round)
    if not rt.redis.set(guard, now_ms(), nx=True, ex=int(rt.settings.ledger_ttl_s)):
        return False
    log.info("campaign_finished", **campaign.summary())
    return True


__all__ = ["Aborted", "JobHook", "announce"]
