"""Bulk campaigns: the record, its live counters and rows, pause/resume/abort, and the announcement of its end.

Three Redis keys per campaign (``keys.campaign*``): a hash with the record and the counters, a hash of
input line -> job id (or the invalid row's reason), and a hash of job id -> the state the counters hold
the job in. The task moves a job's count at each transition (running, waiting, a final state) with one
script call; because the script knows the state it counted the job in last, a job that moved by another
path (a replay from ``cancelq dlq``, a crashed worker) is counted right when it next moves. The script
that counts the last job out also marks the campaign finished, exactly once per round (the run, then
each ``redo-failed``); the completion is logged and, when the campaign has a webhook, POSTed there.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import redis

from cancelq.core import keys
from cancelq.gate import controls
from cancelq.gate.limits import Limit
from cancelq.jobs.ledger import FINAL_STATES, now_ms
from cancelq.runtime import Runtime

COUNTERS = ("total", "queued", "running", "waiting", "succeeded", "already_cancelled", "dead", "rejected",
            "aborted", "previewed")
"""``total`` counts the jobs this campaign sent; the others split them by state."""
TALLIES = ("done", "invalid", "duplicates")
"""``done``: jobs in a final state; ``invalid``: rows refused at intake; ``duplicates``: rows whose order was
already submitted (by an earlier line, or before the campaign), so nothing was sent for them."""
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
INFO_CACHE_S = 1.0

_FINAL_LUA = "local FINAL = {" + ", ".join(f"{s} = true" for s in sorted(FINAL_STATES)) + "}\n"

_COMPLETE_LUA = """
local function complete(campaign, now, ttl, others)
  local c = redis.call('HMGET', campaign, 'intake_done_at', 'done', 'total')
  if c[1] and c[1] ~= '' and tonumber(c[2] or '0') >= tonumber(c[3] or '0') then
    if redis.call('HSETNX', campaign, 'finished_at', now) == 1 then
      redis.call('EXPIRE', campaign, ttl)
      for _, k in ipairs(others) do redis.call('EXPIRE', k, ttl) end
      return 2
    end
  end
  return 1
end
"""

_ACCOUNT = _FINAL_LUA + """
local n, i, send, add = tonumber(ARGV[4]), 5, {}, {}
local function count(name) add[name] = (add[name] or 0) + 1 end
for _ = 1, n do
  local line, job, created, state = string.match(ARGV[i], '^(%S+) (%S+) (%S+) (%S+)$')
  i = i + 1
  if redis.call('HSETNX', KEYS[2], line, job) == 1 then
    if redis.call('HEXISTS', KEYS[3], job) == 1 then
      redis.call('HSET', KEYS[2], line, '=' .. job)
      count('duplicates')
    else
      local ours = created == '1'
      if not ours then
        local ok, decoded = pcall(cjson.decode, redis.call('HGET', ARGV[2] .. job, 'job') or '')
        ours = ok and type(decoded) == 'table' and decoded['campaign_id'] == ARGV[1]
        state = redis.call('HGET', ARGV[2] .. job, 'state') or state
      end
      if ours then
        redis.call('HSET', KEYS[3], job, state)
        count('total')
        count(state)
        if FINAL[state] then count('done') end
        if state == 'queued' then send[#send + 1] = job end
      else
        redis.call('HSET', KEYS[2], line, '~' .. job)
        count('duplicates')
      end
    end
  elseif redis.call('HGET', KEYS[3], job) == 'queued' then
    send[#send + 1] = job
  end
end
while i < #ARGV do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then count('invalid') end
  i = i + 2
end
for name, k in pairs(add) do redis.call('HINCRBY', KEYS[1], name, k) end
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[1], 'lines_done') or '0') then
  redis.call('HSET', KEYS[1], 'lines_done', ARGV[3])
end
return table.concat(send, ' ')
"""
"""One intake batch: record each row, count each job once (resumed batches and repeated orders included).

ARGV: campaign id, job key prefix, the batch's last line, n, then n "line job_id created state", then
(line, JSON) per invalid row. Returns the job ids to send, space-separated."""

_MOVE = _FINAL_LUA + _COMPLETE_LUA + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local new = ARGV[2]
if new == '' then new = redis.call('HGET', ARGV[5] .. ARGV[1], 'state') or old end
if old == new then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], new)
redis.call('HINCRBY', KEYS[2], old, -1)
redis.call('HINCRBY', KEYS[2], new, 1)
if FINAL[old] and not FINAL[new] then
  redis.call('HINCRBY', KEYS[2], 'done', -1)
  redis.call('HDEL', KEYS[2], 'finished_at')
  for _, k in ipairs(KEYS) do redis.call('PERSIST', k) end
  return 1
end
if FINAL[new] and not FINAL[old] then
  redis.call('HINCRBY', KEYS[2], 'done', 1)
  return complete(KEYS[2], ARGV[3], ARGV[4], {KEYS[1], KEYS[3]})
end
return 1
"""
"""A job's move from the state it was counted in; returns 2 when that finished the campaign.

An empty state means "the state the ledger holds now" (after a replay, which a worker may already have run)."""

_INTAKE_DONE = _COMPLETE_LUA + """
redis.call('HSETNX', KEYS[1], 'intake_done_at', ARGV[1])
return complete(KEYS[1], ARGV[1], ARGV[2], {KEYS[2], KEYS[3]})
"""


class CampaignError(ValueError):
    """A campaign command that cannot be done as asked; the message says why."""


class CampaignNotFound(LookupError):
    pass


def new_campaign_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:8]}"


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _ms_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else ""


def webhook_host(url: str) -> str:
    """How a webhook is shown: its host only (its path or query may hold a token)."""
    return (urlsplit(url).hostname or "?") if url else ""


@dataclass(frozen=True)
class Campaign:
    """A campaign as its record says now. ``counts`` holds every counter and tally by name."""

    id: str
    stored_status: str
    counts: dict[str, int]
    created_at: int
    intake_done_at: int | None = None
    finished_at: int | None = None
    dry_run: bool = False
    max_rate: float | None = None
    webhook: str = field(default="", repr=False)
    source: str = ""
    lines_done: int = 0
    round: int = 1
    reason: str = ""

    @classmethod
    def from_hash(cls, campaign_id: str, h: dict[str, str]) -> Campaign:
        return cls(
            id=campaign_id, stored_status=h.get("status", "running"),
            counts={name: _int(h.get(name)) for name in (*COUNTERS, *TALLIES)},
            created_at=_int(h.get("created_at")), intake_done_at=_ms_or_none(h.get("intake_done_at")),
            finished_at=_ms_or_none(h.get("finished_at")), dry_run=h.get("dry_run") == "1",
            max_rate=float(h["max_rate"]) if h.get("max_rate") else None, webhook=h.get("webhook", ""),
            source=h.get("source", ""), lines_done=_int(h.get("lines_done")), round=_int(h.get("round")) or 1,
            reason=h.get("status_reason", ""),
        )

    @property
    def status(self) -> str:
        """intake, running, paused, aborting, aborted or finished."""
        if self.finished_at:
            return "aborted" if self.stored_status == "aborted" else "finished"
        if self.stored_status == "aborted":
            return "aborting"
        if self.stored_status == "paused":
            return "paused"
        return "running" if self.intake_done_at else "intake"

    @property
    def total(self) -> int:
        return self.counts["total"]

    @property
    def done(self) -> int:
        return self.counts["done"]

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at or now_ms()
        return max(0.0, (end - self.created_at) / 1000)

    @property
    def rate_per_s(self) -> float:
        """Jobs finished per second since the campaign started."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def eta_s(self, rate_per_s: float | None = None) -> float | None:
        rate = self.rate_per_s if rate_per_s is None else rate_per_s
        if self.finished:
            return 0.0
        if not self.intake_done_at or rate <= 0:
            return None
        return (self.total - self.done) / rate

    def summary(self) -> dict[str, Any]:
        """What the completion announcement and ``status --json`` say (no webhook URL: it may hold a token)."""
        return {
            "campaign_id": self.id, "status": self.status, "dry_run": self.dry_run, "round": self.round,
            "source": self.source, **self.counts, "max_rate": self.max_rate, "webhook": webhook_host(self.webhook),
            "created_at": _iso(self.created_at), "intake_done_at": _iso(self.intake_done_at),
            "finished_at": _iso(self.finished_at), "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 3),
        }


@dataclass(frozen=True)
class Info:
    """What the task needs of a campaign on every job, cached per process for ``INFO_CACHE_S``."""

    campaign_id: str
    aborted: bool
    paused: bool
    limit: tuple[str, Limit] | None


_info_cache: dict[tuple[str, str], tuple[float, Info | None]] = {}


def cached_info(rt: Runtime, campaign_id: str) -> Info | None:
    """The campaign's abort/pause flags and ``--max-rate`` limit; None when it has no record."""
    key = (rt.redis_url, campaign_id)
    hit = _info_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < INFO_CACHE_S:
        return hit[1]
    status, max_rate = rt.redis.hmget(keys.campaign(campaign_id), ["status", "max_rate"])
    info = None
    if status is not None:
        limit = (f"campaign:{campaign_id}", Limit(float(max_rate), 1)) if max_rate else None
        info = Info(campaign_id, status == "aborted", status == "paused", limit)
    _info_cache[key] = (time.monotonic(), info)
    return info


def forget_info(campaign_id: str) -> None:
    for key in [k for k in _info_cache if k[1] == campaign_id]:
        _info_cache.pop(key, None)


class Campaigns:
    """The campaign store."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.r: redis.Redis = rt.redis
        self.ttl_s = int(rt.settings.ledger_ttl_s)
        self._account = self.r.register_script(_ACCOUNT)
        self._move = self.r.register_script(_MOVE)
        self._intake_done = self.r.register_script(_INTAKE_DONE)

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
            raise CampaignNotFound(f"no campaign {campaign_id} (finished campaigns are kept "
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
        args: list[Any] = [campaign_id, f"{keys.PREFIX}:job:", last_line, len(rows)]
        args += [f"{line} {job_id} {int(created)} {state}" for line, job_id, created, state in rows]
        for line, text in invalid:
            args += [line, text]
        sent = self._account(keys=[keys.campaign(campaign_id), keys.campaign_rows(campaign_id),
                                   keys.campaign_states(campaign_id)], args=args)
        return str(sent).split()

    def intake_done(self, campaign_id: str) -> bool:
        """Mark the file read; True when that finished the campaign (every job already final)."""
        result = self._intake_done(keys=[keys.campaign(campaign_id), keys.campaign_rows(campaign_id),
                                         keys.campaign_states(campaign_id)], args=[now_ms(), self.ttl_s])
        return int(result) == 2

    # --- the task's hook ---

    def move(self, campaign_id: str, job_id: str, state: str = "") -> bool:
        """Count ``job_id`` in ``state`` (default: the ledger's state now); True when that finished the campaign."""
        return int(self._move(keys=self._move_keys(campaign_id), args=self._move_args(job_id, state))) == 2

    def move_in(self, pipe: redis.client.Pipeline, campaign_id: str, job_id: str, state: str) -> None:
        """``move`` queued on the caller's pipeline by its hash alone (a Script object would add a SCRIPT EXISTS
        round trip); ``moved_by`` reads the result and runs the move itself if the server had lost the script."""
        move_keys = self._move_keys(campaign_id)
        pipe.evalsha(self._move.sha, len(move_keys), *move_keys, *self._move_args(job_id, state))

    def moved_by(self, result: Any, campaign_id: str, job_id: str, state: str) -> bool:
        if isinstance(result, redis.exceptions.NoScriptError):
            return self.move(campaign_id, job_id, state)
        if isinstance(result, Exception):
            raise result
        return int(result) == 2

    @staticmethod
    def _move_keys(campaign_id: str) -> list[str]:
        return [keys.campaign_states(campaign_id), keys.campaign(campaign_id), keys.campaign_rows(campaign_id)]

    def _move_args(self, job_id: str, state: str) -> list[Any]:
        return [job_id, state, now_ms(), self.ttl_s, f"{keys.PREFIX}:job:"]

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
           "forget_info", "store"]
