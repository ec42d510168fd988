"""Bulk campaigns: the store of the record, its live counters and rows, and pause/resume/abort.

Three Redis keys per campaign (``keys.campaign*``): a hash with the record and the counters, a hash of
input line -> job id (or the invalid row's reason), and a hash of job id -> the state the counters hold
the job in. The task moves a job's count at each transition (running, waiting, a final state) with one
script call; because the script knows the state it counted the job in last, a job that moved by another
path (a replay from ``cancelq dlq``, a crashed worker) is counted right when it next moves. The script
that counts the last job out also marks the campaign finished, exactly once per round (the run, then
each ``redo-failed``); the completion is logged and, when the campaign has a webhook, POSTed there
(``tracking.announce``). The scripts are in ``lua/`` (``scripts.py``); the record is read as a
``Campaign`` (``record.py``), and the task's per-job view of it is cached per process (``info.py``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import redis

from cancelq.campaigns.info import Info, cached_info, forget_info
from cancelq.campaigns.record import (
    COUNTERS,
    ID_PATTERN,
    TALLIES,
    Campaign,
    CampaignError,
    CampaignNotFound,
    new_campaign_id,
    webhook_host,
)
from cancelq.campaigns.scripts import load
from cancelq.core import keys
from cancelq.core.lua import queue_script
from cancelq.gate import controls
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime


class Campaigns:
    """The campaign store."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.r: redis.Redis = rt.redis
        self.ttl_s = int(rt.settings.ledger_ttl_s)
        self.scripts = load(self.r)

    # --- record ---

    def open(self, campaign_id: str | None, *, dry_run: bool, source: str, max_rate: float | None,
             webhook: str | None) -> tuple[Campaign, bool]:
        """A new campaign, or the existing one of that id to resume; returns (campaign, resumed)."""
        if max_rate is not None and max_rate <= 0:
            raise CampaignError("--max-rate must be above 0")
        if webhook and urlsplit(webhook).scheme not in ("http", "https"):
            raise CampaignError("--webhook must be an http(s) URL")
        campaign_id = campaign_id or new_campaign_id()
        if not ID_PATTERN.match(campaign_id):
            raise CampaignError("a campaign id is 1-100 letters, digits, '.', '_' or '-', starting with one of the"
                                " first two")
        existing = self.find(campaign_id)
        if existing is not None:
            return self._resume(existing, dry_run=dry_run, max_rate=max_rate, webhook=webhook), True
        now = now_ms()
        fields: dict[Any, Any] = {"id": campaign_id, "status": "running", "created_at": now, "round": 1,
                                  "dry_run": int(dry_run), "source": source[:200], "lines_done": 0,
                                  "max_rate": max_rate or "", "webhook": webhook or ""}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.campaign(campaign_id), mapping=fields)
        pipe.zadd(keys.CAMPAIGNS, {campaign_id: now})
        pipe.execute()
        return self.get(campaign_id), False

    def _resume(self, campaign: Campaign, *, dry_run: bool, max_rate: float | None,
                webhook: str | None) -> Campaign:
        if campaign.dry_run != dry_run:
            kind = "a dry run" if campaign.dry_run else "not a dry run"
            raise CampaignError(f"campaign {campaign.id} is {kind}; resume it the same way")
        if campaign.stored_status == "aborted":
            raise CampaignError(f"campaign {campaign.id} was aborted; start a new one")
        update: dict[Any, Any] = {}
        if max_rate is not None:
            update["max_rate"] = max_rate
        if webhook:
            update["webhook"] = webhook
        if update:
            self.r.hset(keys.campaign(campaign.id), mapping=update)
            forget_info(campaign.id)
        return self.get(campaign.id)

    def find(self, campaign_id: str) -> Campaign | None:
        h: dict[str, str] = self.r.hgetall(keys.campaign(campaign_id))  # type: ignore[assignment]
        return Campaign.from_hash(campaign_id, h) if h else None

    def get(self, campaign_id: str) -> Campaign:
        campaign = self.find(campaign_id)
        if campaign is None:
            known = [str(i) for i in self.r.zrevrange(keys.CAMPAIGNS, 0, 999)]
            close = difflib.get_close_matches(campaign_id, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise CampaignNotFound(f"no campaign {campaign_id}{hint} (finished campaigns are kept "
                                   f"{self.ttl_s // 86400} days)")
        return campaign

    def recent(self, limit: int = 20) -> list[Campaign]:
        """Newest first; records that expired are dropped from the index."""
        ids = [str(i) for i in self.r.zrevrange(keys.CAMPAIGNS, 0, limit - 1)]
        pipe = self.r.pipeline(transaction=False)
        for campaign_id in ids:
            pipe.hgetall(keys.campaign(campaign_id))
        found: list[Campaign] = []
        gone: list[str] = []
        for campaign_id, h in zip(ids, pipe.execute(), strict=True):
            if h:
                found.append(Campaign.from_hash(campaign_id, h))
            else:
                gone.append(campaign_id)
        if gone:
            self.r.zrem(keys.CAMPAIGNS, *gone)
        return found

    # --- intake ---

    def account(self, campaign_id: str, *, rows: list[tuple[int, str, bool, str]], invalid: list[tuple[int, str]],
                last_line: int) -> list[str]:
        """Record one batch: (line, job id, created, state) per valid row, (line, JSON) per invalid one.

        Returns the job ids to send: the new ones (and, on a resumed batch, those still queued).
        """
        args: list[Any] = [campaign_id, last_line, len(rows)]
        args += [f"{line} {job_id} {int(created)} {state}" for line, job_id, created, state in rows]
        for line, text in invalid:
            args += [line, text]
        found = [keys.job(job_id) for _, job_id, created, _ in rows if not created]
        sent = self.scripts.account(keys=[keys.campaign(campaign_id), keys.campaign_rows(campaign_id),
                                          keys.campaign_states(campaign_id), *found], args=args)
        return str(sent).split()

    def intake_done(self, campaign_id: str) -> bool:
        """Mark the file read; True when that finished the campaign (every job already final)."""
        result = self.scripts.intake_done(keys=[keys.campaign(campaign_id), keys.campaign_rows(campaign_id),
                                                keys.campaign_states(campaign_id), keys.EVENTS],
                                          args=[now_ms(), self.ttl_s, campaign_id])
        return int(result) == 2

    # --- the task's hook ---

    def move(self, campaign_id: str, job_id: str, state: str = "") -> bool:
        """Count ``job_id`` in ``state`` (default: the ledger's state now); True when that finished the campaign."""
        answer = self.scripts.move(keys=self._move_keys(campaign_id, job_id),
                                   args=self._move_args(campaign_id, job_id, state))
        return int(answer) == 2

    def move_in(self, pipe: redis.client.Pipeline, campaign_id: str, job_id: str, state: str) -> None:
        """``move`` queued on the caller's pipeline by its hash alone (a Script object would add a SCRIPT EXISTS
        round trip); ``moved_by`` reads the result and runs the move itself if the server had lost the script."""
        move_keys = self._move_keys(campaign_id, job_id)
        queue_script(pipe, self.scripts.move, move_keys, self._move_args(campaign_id, job_id, state))

    def moved_by(self, result: Any, campaign_id: str, job_id: str, state: str) -> bool:
        if isinstance(result, redis.exceptions.NoScriptError):
            return self.move(campaign_id, job_id, state)
        if isinstance(result, Exception):
            raise result
        return int(result) == 2

    @staticmethod
    def _move_keys(campaign_id: str, job_id: str) -> list[str]:
        return [keys.campaign_states(campaign_id), keys.campaign(campaign_id), keys.campaign_rows(campaign_id),
                keys.EVENTS, keys.job(job_id)]

    def _move_args(self, campaign_id: str, job_id: str, state: str) -> list[Any]:
        return [job_id, state, now_ms(), self.ttl_s, campaign_id]

    # --- operator controls ---

    def pause(self, campaign_id: str, reason: str = "") -> Campaign:
        campaign = self._controllable(campaign_id)
        controls.pause(self.r, controls.scope_name("campaign", campaign.id), reason or "campaign paused")
        self.r.hset(keys.campaign(campaign.id), mapping={"status": "paused", "status_reason": reason})
        forget_info(campaign.id)
        return self.get(campaign.id)

    def resume(self, campaign_id: str) -> Campaign:
        campaign = self._controllable(campaign_id)
        controls.resume(self.r, controls.scope_name("campaign", campaign.id))
        self.r.hset(keys.campaign(campaign.id), mapping={"status": "running", "status_reason": ""})
        forget_info(campaign.id)
        return self.get(campaign.id)

    def abort(self, campaign_id: str, reason: str = "") -> tuple[Campaign, int]:
        """Stop sending: writes not yet sent are never sent; returns the campaign and the jobs called forward.

        The abort is a pause-scope value, so a job already past its checks still sees it in the
        pause read it makes before its write; queued and waiting jobs are moved forward on the
        delayed set, so they end ``aborted`` at once instead of after their waits.
        """
        campaign = self._controllable(campaign_id)
        marker = json.dumps({"at": now_ms(), "reason": reason or "campaign aborted", "abort": True})
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.GATE, keys.pause_field(controls.scope_name("campaign", campaign.id)), marker)
        pipe.hset(keys.campaign(campaign.id), mapping={"status": "aborted", "status_reason": reason,
                                                       "aborted_at": now_ms()})
        pipe.execute()
        forget_info(campaign.id)
        return self.get(campaign.id), self._call_forward(campaign.id, ("queued", "waiting"))

    def _call_forward(self, campaign_id: str, states: tuple[str, ...]) -> int:
        moved, now = 0, now_ms()
        batch: list[str] = []
        for job_id, state in self.r.hscan_iter(keys.campaign_states(campaign_id), count=1000):
            if state in states:
                batch.append(str(job_id))
            if len(batch) >= 1000:
                moved += self._due_now(batch, now)
                batch = []
        return moved + self._due_now(batch, now)

    def _due_now(self, job_ids: list[str], now: int) -> int:
        if not job_ids:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.zadd(keys.DELAYED, {job_id: now}, xx=True, ch=True)
        return sum(int(n) for n in pipe.execute())

    def _controllable(self, campaign_id: str) -> Campaign:
        campaign = self.get(campaign_id)
        if campaign.stored_status == "aborted":
            raise CampaignError(f"campaign {campaign.id} was aborted")
        return campaign

    def reopen(self, campaign_id: str) -> Campaign:
        """A new round (``redo-failed``): its completion is announced again."""
        self._controllable(campaign_id)
        self.r.hincrby(keys.campaign(campaign_id), "round", 1)
        return self.get(campaign_id)

    def resync(self, campaign_id: str, job_ids: list[str]) -> bool:
        """Count these jobs in the state the ledger holds them in now (after a replay); True: that finished it."""
        finished = False
        for job_id in job_ids:
            finished = self.move(campaign_id, job_id) or finished
        return finished

    # --- rows ---

    def rows(self, campaign_id: str, *, chunk: int = 1000) -> Iterator[tuple[int, str]]:
        """(line, stored value) in line order, streamed in chunks of ``chunk`` lines."""
        last = self.get(campaign_id).lines_done
        for start in range(1, last + 1, chunk):
            lines = list(range(start, min(last, start + chunk - 1) + 1))
            values = self.r.hmget(keys.campaign_rows(campaign_id), lines)
            yield from ((line, str(v)) for line, v in zip(lines, values, strict=True) if v is not None)


@lru_cache(maxsize=8)
def store(rt: Runtime) -> Campaigns:
    """The runtime's campaign store (its scripts registered once)."""
    return Campaigns(rt)


__all__ = ["COUNTERS", "TALLIES", "Campaign", "CampaignError", "CampaignNotFound", "Campaigns", "Info", "cached_info",
           "forget_info", "new_campaign_id", "store", "webhook_host"]
