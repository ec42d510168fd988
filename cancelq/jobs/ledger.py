"""Job records in Redis: state, steps, attempts, leases and idempotency.

One hash per job (``keys.job``). Two Lua scripts make the decisions that must be
atomic across a fleet: ``intake`` (one job per idempotency key) and ``begin``
(one runner per job, through a lease that an expired holder loses). Everything
else is written only by the lease holder, pipelined.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from cancelq.core import keys
from cancelq.jobs.contract import Job
from cancelq.jobs.states import FINAL_STATES, STATES, JobState  # noqa: F401  (re-exported)

MAX_EVENTS = 40
MAX_RAW_CHARS = 4000

_INTAKE_FN = """
local function intake(idem_key, job_key, delayed, job_id, job, now, force, safety_net, prefix, ttl)
  if redis.call('SET', idem_key, job_id, 'NX', 'EX', ttl) then
    redis.call('HSET', job_key, 'job_id', job_id, 'state', 'queued', 'job', job, 'steps', '{}', 'inflight', '',
               'attempts', 0, 'deliveries', 0, 'runs', 1, 'created_at', now, 'updated_at', now, 'events', '[]')
    redis.call('ZADD', delayed, tonumber(now) + tonumber(safety_net), job_id)
    return {job_id, 1, 'queued'}
  end
  local existing = redis.call('GET', idem_key)
  local jk = prefix .. existing
  local state = redis.call('HGET', jk, 'state')
  if not state then
    redis.call('SET', idem_key, job_id, 'EX', ttl)
    redis.call('HSET', job_key, 'job_id', job_id, 'state', 'queued', 'job', job, 'steps', '{}', 'inflight', '',
               'attempts', 0, 'deliveries', 0, 'runs', 1, 'created_at', now, 'updated_at', now, 'events', '[]')
    redis.call('ZADD', delayed, tonumber(now) + tonumber(safety_net), job_id)
    return {job_id, 1, 'queued'}
  end
  local final = state == 'succeeded' or state == 'already_cancelled' or state == 'dead' or state == 'rejected'
    or state == 'aborted' or state == 'previewed'
  if force ~= '1' or not final then return {existing, 0, state} end
  redis.call('HSET', jk, 'state', 'queued', 'job', job, 'steps', '{}', 'inflight', '', 'attempts', 0,
             'deliveries', 0, 'finished_at', '', 'due_at', '', 'updated_at', now, 'dead_kind', '', 'lease_until', '')
  redis.call('HINCRBY', jk, 'runs', 1)
  redis.call('PERSIST', jk)
  redis.call('EXPIRE', idem_key, ttl)
  redis.call('ZADD', delayed, tonumber(now) + tonumber(safety_net), existing)
  return {existing, 1, 'queued'}
end
"""

_INTAKE = _INTAKE_FN + ("return intake(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], "
                        "ARGV[6], ARGV[7])")

_INTAKE_MANY = _INTAKE_FN + """
local out = {}
for i = 5, #ARGV do
  local a = string.find(ARGV[i], '\\n', 1, true)
  local b = string.find(ARGV[i], '\\n', a + 1, true)
  local job_id = string.sub(ARGV[i], a + 1, b - 1)
  local r = intake(string.sub(ARGV[i], 1, a - 1), ARGV[2] .. job_id, KEYS[1], job_id, string.sub(ARGV[i], b + 1),
                   ARGV[1], '0', ARGV[3], ARGV[2], ARGV[4])
  out[#out + 1] = r[1] .. ' ' .. r[2] .. ' ' .. r[3]
end
return table.concat(out, '\\n')
"""
"""The intake script's logic for a batch of jobs in one call (campaigns); each job is treated as ``intake`` does.

One argument per job ("idempotency key \\n job id \\n job JSON": compact JSON holds no raw newline) and one
string back ("job id created state" per line): a Redis client spends more time on many small arguments
and replies than the server spends on the work."""

_BEGIN = """
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'missing'}
end
local h = {}
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
local state = h['state']
if state ~= 'queued' then redis.call('ZREM', KEYS[3], ARGV[1]) end
if state == 'succeeded' or state == 'already_cancelled' or state == 'dead' or state == 'rejected'
   or state == 'aborted' or state == 'previewed' then
  return {'final', state}
end
local now = tonumber(ARGV[2])
local lease = tonumber(h['lease_until'] or '')
if state == 'running' and lease and lease > now then return {'busy', tostring(lease)} end
if state == 'waiting' then
  local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if due and tonumber(due) > now then return {'early', due} end
end
local until_ = now + tonumber(ARGV[3])
local deliveries = tonumber(h['deliveries'] or '0') + 1
if state ~= 'queued' or tonumber(h['created_at'] or '0') + tonumber(ARGV[4]) > until_ then
  redis.call('ZADD', KEYS[2], until_, ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'running', 'updated_at', ARGV[2], 'deliveries', deliveries, 'lease_until', until_)
h['state'], h['updated_at'] = 'running', ARGV[2]
h['deliveries'], h['lease_until'] = tostring(deliveries), tostring(until_)
local out = {}
for k, v in pairs(h) do out[#out + 1] = k; out[#out + 1] = v end
return {'run', out}
"""
"""Take the lease: one read of the job and one write. The lease is ``lease_until`` in the job: ``busy`` is judged
by it, and the pump reads it when the job's timer on the delayed set comes due, to look again at its expiry or to
hand the job over if its holder died. A fresh job's timer is its safety net, set at intake, so taking its lease
writes nothing else unless the lease ends first (a lease shorter than the safety net); a job the pump sent has
no timer left, and gets one at its lease's expiry.

A job the pump sent (a wait come due, an expired lease, a queued job's safety net) keeps the pump's claim
until this script sees it, so a message lost on its way (a worker killed between taking it from the
broker and beginning) is sent again when the claim expires. A fresh queued job skips that write: it has
no claim unless its safety net fired, and a claim left over only sends one more message, which finds it
running or final."""


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id() -> str:
    return uuid.uuid4().hex[:20]


@dataclass
class JobRecord:
    """A job as the ledger holds it. ``steps`` maps step name -> {data, request_id, at}."""

    job_id: str
    state: str
    job: dict[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    inflight: str = ""
    attempts: int = 0
    deliveries: int = 0
    runs: int = 1
    created_at: int = 0
    updated_at: int = 0
    finished_at: int | None = None
    due_at: int | None = None
    last_error: dict[str, Any] | None = None
    dead_kind: str = ""
    reject_reason: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    lease_until: int | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> JobRecord:
        def num(name: str) -> int | None:
            value = h.get(name)
            return int(value) if value else None

        return cls(
            job_id=h["job_id"], state=h["state"], job=json.loads(h.get("job") or "{}"),
            steps=json.loads(h.get("steps") or "{}"), inflight=h.get("inflight", ""),
            attempts=num("attempts") or 0, deliveries=num("deliveries") or 0, runs=num("runs") or 1,
            created_at=num("created_at") or 0, updated_at=num("updated_at") or 0,
            finished_at=num("finished_at"), due_at=num("due_at"),
            last_error=json.loads(h["last_error"]) if h.get("last_error") else None,
            dead_kind=h.get("dead_kind", ""), reject_reason=h.get("reject_reason", ""),
            events=json.loads(h.get("events") or "[]"), lease_until=num("lease_until"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "state": self.state, "job": self.job, "steps": self.steps,
            "inflight": self.inflight, "attempts": self.attempts, "deliveries": self.deliveries, "runs": self.runs,
            "created_at": self.created_at, "updated_at": self.updated_at, "finished_at": self.finished_at,
            "due_at": self.due_at, "last_error": self.last_error, "dead_kind": self.dead_kind,
            "reject_reason": self.reject_reason, "events": self.events,
        }


@dataclass(frozen=True)
class Intake:
    job_id: str
    created: bool
    state: str


@dataclass(frozen=True)
class Begin:
    """``kind``: run (record set), final, busy / early (``at_ms`` says until when), missing."""

    kind: str
    record: JobRecord | None = None
    at_ms: int | None = None
    state: str | None = None


class Ledger:
    def __init__(self, client: redis.Redis, *, safety_net_ms: int = 60_000, lease_ms: int = 120_000,
                 ttl_s: int = 30 * 86400) -> None:
        self.r = client
        self.safety_net_ms = safety_net_ms
        self.lease_ms = lease_ms
        self.ttl_s = ttl_s
        self._intake = client.register_script(_INTAKE)
        self._intake_many = client.register_script(_INTAKE_MANY)
        self._begin = client.register_script(_BEGIN)

    def intake(self, job: Job, *, force: bool = False, job_id: str | None = None) -> Intake:
        """Record a job once per idempotency key. ``created`` False: it existed and nothing is to be sent.

        The job is also put on the delayed set a little in the future: if the
        message sent after intake is lost, the pump sends it again then.
        """
        job_id = job_id or new_job_id()
        args: list[Any] = [job_id, job.encoded(), now_ms(), "1" if force else "0",
                self.safety_net_ms, f"{keys.PREFIX}:job:", self.ttl_s]
        result = self._intake(keys=[keys.idempotency(job.idempotency_key), keys.job(job_id), keys.DELAYED], args=args)
        return Intake(job_id=str(result[0]), created=bool(int(result[1])), state=str(result[2]))

    def intake_many(self, jobs: Sequence[Job], encoded: Sequence[str] | None = None) -> list[Intake]:
        """``intake`` for a batch of jobs in one script call (each job as ``intake`` would, without ``force``).

        ``encoded``: the jobs' ``Job.encoded()``, when the caller has them already."""
        if not jobs:
            return []
        texts = encoded if encoded is not None else [job.encoded() for job in jobs]
        args: list[Any] = [now_ms(), f"{keys.PREFIX}:job:", self.safety_net_ms, self.ttl_s]
        args += [f"{keys.idempotency(job.idempotency_key)}\n{new_job_id()}\n{text}"
                 for job, text in zip(jobs, texts, strict=True)]
        lines = str(self._intake_many(keys=[keys.DELAYED], args=args)).split("\n")
        return [Intake(job_id=j, created=c == "1", state=st) for j, c, st in (line.split(" ") for line in lines)]

    def reject(self, raw: Any, reason: str, *, source: str = "") -> str:
        """Record a job that cannot be run, with why; it is kept and listed, never dropped."""
        job_id = new_job_id()
        now = now_ms()
        raw_text = json.dumps(raw, default=repr, separators=(",", ":"))[:MAX_RAW_CHARS]
        job = raw if isinstance(raw, dict) and len(raw_text) < MAX_RAW_CHARS else {"raw": raw_text}
        event = {"at": now, "event": "rejected", "reason": reason, "source": source}
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(keys.job(job_id), mapping={
            "job_id": job_id, "state": "rejected", "job": json.dumps(job, default=repr), "steps": "{}",
            "reject_reason": reason, "created_at": now, "updated_at": now, "finished_at": now,
            "events": json.dumps([event]),
        })
        pipe.expire(keys.job(job_id), self.ttl_s)
        pipe.zadd(keys.REJECTED, {job_id: now})
        pipe.execute()
        return job_id

    def get(self, job_id: str) -> JobRecord | None:
        h = self.r.hgetall(keys.job(job_id))
        return JobRecord.from_hash(h) if h else None  # type: ignore[arg-type]

    def find(self, idempotency_key: str) -> JobRecord | None:
        job_id = self.r.get(keys.idempotency(idempotency_key))
        return self.get(str(job_id)) if job_id else None

    def begin(self, job_id: str) -> Begin:
        """Take the job's lease and mark it running, unless it is final, leased, or not yet due."""
        result = self._begin(keys=[keys.job(job_id), keys.DELAYED, keys.CLAIMED],
                             args=[job_id, now_ms(), self.lease_ms, self.safety_net_ms])
        kind = str(result[0])
        if kind == "run":
            flat = result[1]
            return Begin("run", record=JobRecord.from_hash(dict(zip(flat[::2], flat[1::2], strict=True))))
        if kind in ("busy", "early"):
            return Begin(kind, at_ms=int(float(result[1])))
        return Begin(kind, state=str(result[1]) if len(result) > 1 else None)

    def save(self, record: JobRecord, **fields: Any) -> None:
        """Write the fields the runner changed (the lease holder is the only writer).

        The lease is renewed with them once a third of it has passed.
        """
        if self.lease_wearing(record):
            record.lease_until = now_ms() + self.lease_ms
            fields = {**fields, "lease_until": record.lease_until}
        self.r.hset(keys.job(record.job_id), mapping=_encode(fields))

    def lease_wearing(self, record: JobRecord) -> bool:
        """A third of the job's lease is used: the next ``save`` renews it."""
        return record.lease_until is not None and record.lease_until - now_ms() < self.lease_ms * 2 // 3

    def wait(self, record: JobRecord, *, due_ms: int, fields: dict[str, Any]) -> None:
        """Park the job until ``due_ms`` on the delayed set and give up the lease."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.job(record.job_id), mapping=_encode({**fields, "state": "waiting", "due_at": due_ms,
                                                             "deliveries": 0, "updated_at": now_ms(),
                                                             "lease_until": ""}))
        pipe.zadd(keys.DELAYED, {record.job_id: due_ms})
        pipe.execute()

    def finish(self, record: JobRecord, *, state: str, fields: dict[str, Any],
               pipe: redis.client.Pipeline | None = None) -> None:
        """Record the outcome and drop the job's timer; the record then lives ``ttl_s``.

        Without ``pipe`` the writes are not a transaction: if only some land, the timer left behind finds
        the job final when it comes due.
        """
        own = pipe is None
        pipe = pipe if pipe is not None else self.r.pipeline(transaction=False)
        now = now_ms()
        pipe.hset(keys.job(record.job_id), mapping=_encode({**fields, "state": state, "finished_at": now,
                                                             "updated_at": now, "inflight": "", "due_at": "",
                                                             "lease_until": ""}))
        pipe.expire(keys.job(record.job_id), self.ttl_s)
        pipe.zrem(keys.DELAYED, record.job_id)
        if own:
            pipe.execute()

    def rejected(self, limit: int = 100) -> list[JobRecord]:
        ids = self.r.zrevrange(keys.REJECTED, 0, limit - 1)
        records = (self.get(str(i)) for i in ids)
        return [r for r in records if r is not None]

    def counts(self) -> dict[str, int]:
        return {
            "delayed": int(self.r.zcard(keys.DELAYED)),
            "claimed": int(self.r.zcard(keys.CLAIMED)),
            "rejected": int(self.r.zcard(keys.REJECTED)),
        }


def add_event(record: JobRecord, event: str, **detail: Any) -> list[dict[str, Any]]:
    record.events = [*record.events[-(MAX_EVENTS - 1):], {"at": now_ms(), "event": event, **detail}]
    return record.events


def _encode(fields: dict[str, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for name, value in fields.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, dict | list):
            out[name] = json.dumps(value, separators=(",", ":"), default=str)
        elif isinstance(value, bool):
            out[name] = int(value)
        else:
            out[name] = value
    return out
