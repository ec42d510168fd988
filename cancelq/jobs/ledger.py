"""Job records in Redis: state, steps, attempts, leases, fencing and idempotency.

One hash per job (``keys.job``, its fields ``keys.JOB_FIELDS``). Scripts in ``lua/`` make every decision
that must be atomic across a fleet: ``intake`` (one job per idempotency key), ``begin`` (one runner per
job, through a lease that an expired holder loses, and a fencing token that grows with each lease), and
the writes of a delivery (``wait``, ``finish``), which each refuse a token that is not the job's
current one, or a job that is no longer running: a final outcome never changes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from cancelq.core import counters, keys
from cancelq.core.lua import queue_script, register
from cancelq.jobs import events
from cancelq.jobs.contract import Job, default_idempotency_key, storable
from cancelq.jobs.intake_calls import Intake as Intake  # re-exported
from cancelq.jobs.intake_calls import Row, Terms, intake_one, intake_rows
from cancelq.jobs.states import FINAL_STATES, STATES, JobState, lua_preamble  # noqa: F401  (re-exported)

MAX_EVENTS = 40
MAX_RAW_CHARS = 4000


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id() -> str:
    return uuid.uuid4().hex[:20]


@dataclass
class JobRecord:
    """A job as the ledger holds it. ``steps`` maps step name -> {data, request_id, at}.

    ``fence`` is the fencing token of the lease this record was read under; ``attribution`` says on what
    evidence a cancelled outcome rests (``confirmed``, ``inferred``, ``before_us``, ``refused``)."""

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
    fence: str = ""
    attribution: str = ""
    write_refused: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    inflight_at: int | None = None
    reservation: str = ""

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
            events=json.loads(h.get("events") or "[]"), lease_until=num("lease_until"), fence=h.get("fence", ""),
            attribution=h.get("attribution", ""), write_refused=h.get("write_refused", ""),
            history=json.loads(h.get("history") or "[]"), inflight_at=num("inflight_at"),
            reservation=h.get("reservation", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "state": self.state, "job": self.job, "steps": self.steps,
            "inflight": self.inflight, "attempts": self.attempts, "deliveries": self.deliveries, "runs": self.runs,
            "created_at": self.created_at, "updated_at": self.updated_at, "finished_at": self.finished_at,
            "due_at": self.due_at, "last_error": self.last_error, "dead_kind": self.dead_kind,
            "reject_reason": self.reject_reason, "events": self.events, "attribution": self.attribution,
            "history": self.history,
        }


@dataclass(frozen=True)
class Begin:
    """``kind``: run (record set), final, busy / early (``at_ms`` says until when), missing."""

    kind: str
    record: JobRecord | None = None
    at_ms: int | None = None
    state: str | None = None


class Fenced(Exception):
    """A delivery's write was refused: the job's lease is another delivery's now, or the job is final."""

    def __init__(self, job_id: str, *, fence: str, state: str) -> None:
        super().__init__(f"job {job_id}: write refused (its fencing token is {fence or '-'}, state {state or '-'})")
        self.fence = fence
        self.state = state


@dataclass(frozen=True)
class DeadLetterWrite:
    """A dead letter written with the job's outcome: the entry, how long it lives, the index's age cutoff, and
    the console's indexes it joins (``DeadLetters.write_for``)."""

    entry_json: str
    px: int
    cutoff_ms: int
    index_keys: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


class Ledger:
    def __init__(self, client: redis.Redis, *, safety_net_ms: int = 60_000, lease_ms: int = 120_000,
                 ttl_s: int = 30 * 86400) -> None:
        self.r = client
        self.safety_net_ms = safety_net_ms
        self.lease_ms = lease_ms
        self.ttl_s = ttl_s
        jobs = lua_preamble()
        self._intake = register(client, "cancelq.jobs", "intake", "intake_one", preamble=jobs)
        self._intake_many = register(client, "cancelq.jobs", "intake", "intake_many", preamble=jobs)
        self._begin = register(client, "cancelq.jobs", "lease", "begin", preamble=jobs)
        self._wait = register(client, "cancelq.jobs", "fence", "wait", preamble=jobs)
        self._finish = register(client, "cancelq.jobs", "fence", "finish", preamble=jobs)

    @property
    def _terms(self) -> Terms:
        return Terms(self.safety_net_ms, self.ttl_s)

    def intake(self, job: Job, *, force: bool = False, job_id: str | None = None) -> Intake:
        """Record a job once per idempotency key. ``created`` False: it existed and nothing is to be sent.

        The job is also put on the delayed set a little in the future: if the
        message sent after intake is lost, the pump sends it again then. A duplicate takes a second call: the
        first answers which job the key holds, the second passes that job's key (every key in KEYS).
        """
        row = Row(keys.idempotency(job.idempotency_key), job_id or new_job_id(), job.encoded())
        intake = intake_one(self._intake, row, self._terms, force=force)
        self._index_refs([job], [intake])
        counters.jobs_submitted(job.source, "created" if intake.created else "duplicate")
        return intake

    def intake_many(self, jobs: Sequence[Job], encoded: Sequence[str] | None = None) -> list[Intake]:
        """``intake`` for a batch of jobs in one script call (each job as ``intake`` would, without ``force``).

        ``encoded``: the jobs' ``Job.encoded()``, when the caller has them already. One argument per job
        ("job id \\n hint \\n job JSON": compact JSON holds no raw newline) and one string back
        ("job id created state" per line): a Redis client spends more time on many small arguments and
        replies than the server spends on the work. Duplicates go round once more with their jobs' keys."""
        if not jobs:
            return []
        texts = encoded if encoded is not None else [job.encoded() for job in jobs]
        rows = [Row(keys.idempotency(job.idempotency_key), new_job_id(), text)
                for job, text in zip(jobs, texts, strict=True)]
        intakes = intake_rows(self._intake_many, rows, self._terms)
        self._index_refs(jobs, intakes)
        _count_submitted(jobs, intakes)
        return intakes

    def _index_refs(self, jobs: Sequence[Job], intakes: Sequence[Intake]) -> None:
        """Remember the job of each producer's reference (``client_ref``), for ``find_ref``: a lookup aid,
        the newest job of a reference wins. An order's jobs that its default idempotency key does not find
        join the order's index (``keys.order_jobs``, for the push processor); the common job writes nothing."""
        made = [(job, i.job_id) for job, i in zip(jobs, intakes, strict=True) if i.created]
        refs = [(job.client_ref, job_id) for job, job_id in made if job.client_ref]
        unkeyed = [(job, job_id) for job, job_id in made if _own_key(job)]
        if not refs and not unkeyed:
            return
        pipe = self.r.pipeline(transaction=False)
        for ref, job_id in refs:
            pipe.set(keys.client_ref(ref), job_id, ex=self.ttl_s)
        for job, job_id in unkeyed:
            index = keys.order_jobs(job.platform, job.shop, job.order_id)
            pipe.sadd(index, job_id)
            pipe.expire(index, self.ttl_s)
        pipe.execute()

    def order_jobs(self, platform: str, shop: str, order_id: str) -> list[str]:
        """The ids of the order's jobs submitted with their own idempotency key or with items."""
        return sorted(str(j) for j in self.r.smembers(keys.order_jobs(platform, shop, order_id)))

    def reject(self, raw: Any, reason: str, *, source: str = "") -> str:
        """Record a job that cannot be run, with why; it is kept and listed, never dropped."""
        counters.jobs_submitted(source or None, "rejected")
        job_id = new_job_id()
        now = now_ms()
        raw = storable(raw)
        raw_text = json.dumps(raw, default=repr, separators=(",", ":"))[:MAX_RAW_CHARS]
        job = raw if isinstance(raw, dict) and len(raw_text) < MAX_RAW_CHARS else {"raw": raw_text}
        event = {"at": now, "event": "rejected", "reason": reason, "source": source}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.job(job_id), mapping={
            "job_id": job_id, "state": "rejected", "job": json.dumps(job, default=repr), "steps": "{}",
            "reject_reason": reason, "created_at": now, "updated_at": now, "finished_at": now,
            "events": json.dumps([event]),
        })
        pipe.expire(keys.job(job_id), self.ttl_s)
        pipe.zadd(keys.REJECTED, {job_id: now})
        data = events.job_data(job if isinstance(job, dict) else {}, job_id, attempts=0, reject_reason=reason,
                               received_via=source or None)
        events.add(pipe, "cancel.rejected", data)
        pipe.execute()
        return job_id

    def get(self, job_id: str) -> JobRecord | None:
        h = self.r.hgetall(keys.job(job_id))
        return JobRecord.from_hash(h) if h else None  # type: ignore[arg-type]

    def ids_starting(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Job ids that start with ``prefix`` (at most ``limit``), by a SCAN of the job keys: for people, who type
        the first characters of an id, not for the hot path."""
        found: list[str] = []
        start = len(keys.job(""))
        for key in self.r.scan_iter(match=keys.job(keys.glob_literal(prefix)) + "*", count=1000):
            found.append(str(key)[start:])
            if len(found) >= limit:
                break
        return sorted(found)

    def find(self, idempotency_key: str) -> JobRecord | None:
        job_id = self.r.get(keys.idempotency(idempotency_key))
        return self.get(str(job_id)) if job_id else None

    def find_ref(self, client_ref: str) -> JobRecord | None:
        """The newest job submitted with the producer's reference ``client_ref``."""
        job_id = self.r.get(keys.client_ref(client_ref))
        return self.get(str(job_id)) if job_id else None

    def begin(self, job_id: str) -> Begin:
        """Take the job's lease (and a new fencing token) and mark it running, unless it is final, leased, or
        not yet due.

        A job the pump sent (a wait come due, an expired lease, a queued job's safety net) keeps the pump's
        claim until this script sees it, so a message lost on its way (a worker killed between taking it from
        the broker and beginning) is sent again when the claim expires."""
        result = self._begin(keys=[keys.job(job_id), keys.DELAYED, keys.CLAIMED],
                             args=[job_id, now_ms(), self.lease_ms, self.safety_net_ms])
        kind = str(result[0])
        if kind == "run":
            flat = result[1]
            return Begin("run", record=JobRecord.from_hash(dict(zip(flat[::2], flat[1::2], strict=True))))
        if kind in ("busy", "early"):
            return Begin(kind, at_ms=int(float(result[1])))
        return Begin(kind, state=str(result[1]) if len(result) > 1 else None)

    def wait(self, record: JobRecord, *, due_ms: int, fields: dict[str, Any]) -> None:
        """Park the job until ``due_ms`` on the delayed set and give up the lease; raises ``Fenced``."""
        flat = _flat({**fields, "state": "waiting", "due_at": due_ms, "deliveries": 0, "updated_at": now_ms(),
                      "lease_until": ""})
        self._check(record, self._wait(keys=[keys.job(record.job_id), keys.DELAYED],
                                       args=[record.fence, record.job_id, due_ms, len(flat), *flat]))

    def finish(self, record: JobRecord, *, state: str, fields: dict[str, Any], event: Mapping[str, Any],
               index: str | None = None, dead_letter: DeadLetterWrite | None = None) -> None:
        """Record the outcome and its event (``event``: the event's data), and drop the job's timer; the
        record then lives ``ttl_s``. Raises ``Fenced``.

        ``index``: a sorted set the job joins (``keys.REJECTED``, ``keys.DLQ``), with ``dead_letter`` its entry,
        all in the same script."""
        key_list, args = self._finish_call(record, state, fields, event, index, dead_letter)
        self._check(record, self._finish(keys=key_list, args=args))

    def finish_in(self, pipe: redis.client.Pipeline, record: JobRecord, *, state: str, fields: dict[str, Any],
                  event: Mapping[str, Any], index: str | None = None,
                  dead_letter: DeadLetterWrite | None = None) -> Callable[[Any], bool]:
        """``finish`` queued on the caller's pipeline by the script's hash (a Script object would add a
        SCRIPT EXISTS round trip); call what it returns with the script's answer: it raises ``Fenced`` when
        the write was refused, and runs the script itself if the server had lost it (then it returns True:
        what the pipeline queued after it ran before the outcome was written)."""
        key_list, args = self._finish_call(record, state, fields, event, index, dead_letter)
        queue_script(pipe, self._finish, key_list, args)

        def check(answer: Any) -> bool:
            rerun = isinstance(answer, redis.exceptions.NoScriptError)
            if rerun:
                answer = self._finish(keys=key_list, args=args)
            elif isinstance(answer, Exception):
                raise answer
            self._check(record, answer)
            return rerun

        return check

    def _finish_call(self, record: JobRecord, state: str, fields: dict[str, Any], event: Mapping[str, Any],
                     index: str | None, dead_letter: DeadLetterWrite | None) -> tuple[list[str], list[Any]]:
        now = now_ms()
        flat = _flat({**fields, "state": state, "finished_at": now, "updated_at": now, "inflight": "",
                      "due_at": "", "lease_until": ""})
        entry = events.entry_args(events.OUTCOME_TYPES[state], event)
        key_list = [keys.job(record.job_id), keys.DELAYED, keys.EVENTS, *([index] if index else [])]
        args: list[Any] = [record.fence, record.job_id, self.ttl_s, now, len(flat), *flat, len(entry), *entry]
        if dead_letter is not None:
            key_list.append(keys.dlq_entry(record.job_id))
            args += [dead_letter.entry_json, dead_letter.px, dead_letter.cutoff_ms]
            if dead_letter.index_keys:
                key_list += [keys.DLQ_SEARCH, keys.DLQ_DIMS, *dead_letter.index_keys]
                args += [len(dead_letter.search), *dead_letter.search]
        return key_list, args

    @staticmethod
    def _check(record: JobRecord, answer: Any) -> None:
        if int(answer[0]) != 1:
            raise Fenced(record.job_id, fence=str(answer[1]), state=str(answer[2]))

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


def _own_key(job: Job) -> bool:
    """A job its order's default idempotency key does not find (a dry run is never acted on by a push)."""
    whole = default_idempotency_key(job.platform, job.shop, job.order_id, [])
    return not job.dry_run and (bool(job.items) or job.idempotency_key != whole)


def add_event(record: JobRecord, event: str, **detail: Any) -> list[dict[str, Any]]:
    record.events = [*record.events[-(MAX_EVENTS - 1):], {"at": now_ms(), "event": event, **detail}]
    return record.events


def _flat(fields: dict[str, Any]) -> list[Any]:
    """Field/value arguments for a script's HSET."""
    return [item for pair in _encode(fields).items() for item in pair]


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


def _count_submitted(jobs: Sequence[Job], intakes: Sequence[Intake]) -> None:
    tally: Counter[tuple[str | None, str]] = Counter(
        (job.source, "created" if i.created else "duplicate") for job, i in zip(jobs, intakes, strict=True))
    for (source, result), n in tally.items():
        counters.jobs_submitted(source, result, n)
