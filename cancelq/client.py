"""The Python API: submit jobs, follow them, work the dead letters.

    from cancelq.client import submit
    handle = submit({"platform": "shopee", "shop": "my-shop", "order_id": "2401...", "reason": "OUT_OF_STOCK"})
    record = handle.wait(timeout_s=60)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from cancelq.campaigns.files import Defaults, ShapeMemo
from cancelq.campaigns.intake import IntakeResult, Publisher, RunOptions, run_campaign
from cancelq.campaigns.record import new_campaign_id
from cancelq.campaigns.report import ReportRow, report_rows
from cancelq.campaigns.store import Campaign, store
from cancelq.campaigns.tracking import announce
from cancelq.core import keys
from cancelq.delivery.operations import campaign_endpoint
from cancelq.delivery.service import endpoints_of
from cancelq.guards import GuardRails, Resumed, ScopeError, Verified
from cancelq.jobs.contract import InvalidJob, Job, check_limits, default_idempotency_key, storable
from cancelq.jobs.deadletters import DeadFilter
from cancelq.jobs.events import Event, matches
from cancelq.jobs.intake import admit, check_job, summary
from cancelq.jobs.ledger import JobRecord
from cancelq.runtime import Runtime, get_runtime


class JobNotFound(LookupError):
    pass


class AmbiguousJob(JobNotFound):
    """A job id's first characters that start several ids."""


MIN_PREFIX = 4
JOB_ID_CHARS = 20


@dataclass(frozen=True)
class JobHandle:
    """What ``submit`` returns. ``created`` is False for a duplicate: the existing job, nothing sent."""

    job_id: str
    created: bool
    state: str
    reason: str = ""
    client: CancelQ | None = None

    @property
    def rejected(self) -> bool:
        return self.state == "rejected"

    def status(self) -> JobRecord:
        return (self.client or default_client()).job(self.job_id)

    def wait(self, timeout_s: float = 60.0, poll_s: float = 0.1) -> JobRecord:
        """Poll the ledger until the job is final; TimeoutError with the last state otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.status()
            if record.final:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.job_id} is still {record.state} after {timeout_s}s")
            time.sleep(poll_s)


class CancelQ(GuardRails):
    """A producer and operator client bound to one Redis (and broker)."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.rt = runtime or get_runtime()

    def submit(self, job: Mapping[str, Any], *, force: bool = False, source: str = "api") -> JobHandle:
        """Record the job once per idempotency key and send it; a malformed job comes back rejected, with why."""
        raw = dict(job) if isinstance(job, Mapping) else job
        admitted = admit(self.rt, raw, force=force, source=source)
        if admitted.created and not admitted.rejected and admitted.job is not None:
            self.rt.sender.send(admitted.job_id, summary(admitted.job), admitted.job.to_dict())
        return JobHandle(admitted.job_id, admitted.created, admitted.state, admitted.reason, self)

    def submit_many(self, jobs: Sequence[Any], *, source: str = "api") -> list[JobHandle]:
        """``submit`` for several jobs in one round of intake: one script call records the valid ones (each still
        once per idempotency key), and on a Redis broker one pipeline sends the new ones. A malformed job is
        recorded rejected, with why, like any other intake; the handles come back in the jobs' order."""
        handles: list[JobHandle | None] = [None] * len(jobs)
        valid: list[tuple[int, Job]] = []
        for index, raw in enumerate(jobs):
            try:
                valid.append((index, self._check(raw)))
            except InvalidJob as exc:
                job_id = self.rt.ledger.reject(storable(raw), str(exc), source=storable(str(source)))
                handles[index] = JobHandle(job_id, True, "rejected", str(exc), self)
        encoded = [job.encoded() for _, job in valid]
        intakes = self.rt.ledger.intake_many([job for _, job in valid], encoded)
        new = [(job, text, i) for (_, job), text, i in zip(valid, encoded, intakes, strict=True) if i.created]
        self._publisher.send([i.job_id for _, _, i in new], {i.job_id: summary(job) for job, _, i in new},
                             {i.job_id: text for _, text, i in new})
        for (index, _), intake in zip(valid, intakes, strict=True):
            handles[index] = JobHandle(intake.job_id, intake.created, intake.state, "", self)
        return [h for h in handles if h is not None]

    def _check(self, raw: Any) -> Job:
        """``check_job`` with the schema's verdict memoised by shape, as campaign intake does (a full validation
        costs ~0.2 ms a job); a job of a shape not known valid gets the full validation and its reasons."""
        if not isinstance(raw, dict):
            return check_job(self.rt, raw)
        check_limits(raw)
        return check_job(self.rt, raw, schema_checked=self._shapes.is_valid(raw))

    @cached_property
    def _shapes(self) -> ShapeMemo:
        return ShapeMemo()

    @cached_property
    def _publisher(self) -> Publisher:
        return Publisher(self.rt)

    def job(self, job_id: str) -> JobRecord:
        """The job with this id, or with the only id starting with it (``JobNotFound``, ``AmbiguousJob``)."""
        record = self.rt.ledger.get(job_id)
        if record is None and len(job_id) < JOB_ID_CHARS:
            record = self.rt.ledger.get(self.resolve(job_id))
        if record is None:
            raise JobNotFound(f"no job {job_id} (finished jobs are kept {self.rt.settings.ledger_ttl_s:.0f}s)")
        return record

    def resolve(self, job_id: str) -> str:
        """A job id from its first characters (at least ``MIN_PREFIX``): the id itself when it is a whole one."""
        if self.rt.redis.exists(keys.job(job_id)):
            return job_id
        if len(job_id) < MIN_PREFIX:
            raise JobNotFound(f"no job {job_id} (give at least {MIN_PREFIX} characters of an id)")
        found = self.rt.ledger.ids_starting(job_id)
        if not found:
            raise JobNotFound(f"no job {job_id} (finished jobs are kept {self.rt.settings.ledger_ttl_s:.0f}s)")
        if len(found) > 1:
            raise AmbiguousJob(f"{job_id} starts {'more than ' if len(found) >= 10 else ''}{len(found)} job ids: "
                               + ", ".join(found[:5]) + (" ..." if len(found) > 5 else ""))
        return found[0]

    def find_order(self, order_id: str, *, platform: str | None = None, shop: str | None = None) -> list[JobRecord]:
        """The jobs cancelling this whole order (submitted without items), on the shops named (by default every
        shop in the registry, of ``platform`` if given)."""
        named = [tuple(n.split("/", 1)) for n in self.rt.shops.names()]
        shops = [(p, s) for p, s in named if (platform is None or p == platform) and (shop is None or s == shop)]
        if platform is not None and shop is not None and (platform, shop) not in shops:
            shops.append((platform, shop))
        found = (self.rt.ledger.find(default_idempotency_key(p, s, order_id, [])) for p, s in shops)
        return [record for record in found if record is not None]

    def find(self, *, key: str | None = None, client_ref: str | None = None) -> JobRecord | None:
        """The job submitted under an idempotency key, or (the newest) with the producer's ``client_ref``: how a
        producer that sent the raw Celery message finds its job again."""
        if (key is None) == (client_ref is None):
            raise ValueError("find takes one of key= or client_ref=")
        return self.rt.ledger.find(key) if key is not None else self.rt.ledger.find_ref(str(client_ref))

    def events(self, *, group: str | None = None, consumer: str = "python", types: Iterable[str] | None = None,
               follow: bool = False, after: str | None = None, block_ms: int = 1000) -> Iterator[Event]:
        """Events from the outbox (``cancelq/schemas/event.schema.json``), oldest first.

        With ``group``, read as that consumer group (at least once: acknowledge each event with
        ``ack_events(group, [event.id])`` once handled; what a crashed reader left is taken over after a
        minute). Without, the events after ``after`` (default: the latest hundred), and with ``follow`` every
        new one as it is written, until the caller stops reading."""
        events = self.rt.events
        if group is not None:
            while True:
                batch = events.read_group(group, consumer, block_ms=block_ms if follow else None)
                events.ack(group, [e.id for e in batch if not matches(e.type, types)])  # not this reader's kind
                yield from (e for e in batch if matches(e.type, types))
                if not follow and not batch:
                    return
        else:
            last = None
            for event in events.recent(count=100, types=types, after=after):
                last = event.id
                yield event
            if follow:
                yield from events.follow(after=last or after or "$", types=types, block_ms=block_ms)

    def ack_events(self, group: str, ids: Iterable[str]) -> int:
        return self.rt.events.ack(group, ids)

    def rejected(self, limit: int = 100) -> list[JobRecord]:
        return self.rt.ledger.rejected(limit)

    def dead_letters(self, where: DeadFilter | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.rt.dead_letters.list(where, limit)

    def dead_letter(self, job_id: str) -> dict[str, Any] | None:
        """A dead letter by its job id or the id's first characters (``AmbiguousJob`` when they fit several)."""
        return self.rt.dead_letters.show(self._dead_id(job_id))

    def _dead_id(self, job_id: str) -> str:
        if len(job_id) >= JOB_ID_CHARS or len(job_id) < MIN_PREFIX:
            return job_id
        found = self.rt.dead_letters.ids_starting(job_id)
        if len(found) > 1:
            raise AmbiguousJob(f"{job_id} starts {len(found)} dead-lettered job ids: " + ", ".join(found[:5])
                               + (" ..." if len(found) > 5 else ""))
        return found[0] if found else job_id

    def replay(self, job_id: str) -> JobHandle:
        """Run a dead-lettered job again, through the same idempotency and status checks."""
        job_id = self._dead_id(job_id)
        entry = self.rt.dead_letters.show(job_id)
        if entry is None:
            raise JobNotFound(f"no dead letter {job_id}")
        handle = self.submit(entry["job"], force=True, source="replay")
        self.rt.dead_letters.remove([job_id])
        return handle

    def replay_all(self, where: DeadFilter | None = None) -> list[JobHandle]:
        return [self.replay(entry["job_id"]) for entry in list(self.rt.dead_letters.iter(where))]

    def purge_dead_letters(self, where: DeadFilter | None = None) -> int:
        return self.rt.dead_letters.purge(where)

    def export_dead_letters(self, where: DeadFilter | None = None, fmt: str = "jsonl") -> Iterator[str]:
        return self.rt.dead_letters.export(where, fmt)

    def run_campaign(self, path: str | Path, *, platform: str | None = None, shop: str | None = None,
                     reason: str | None = None, campaign_id: str | None = None, dry_run: bool = False,
                     strict: bool = False, max_rate: float | None = None, webhook: str | None = None,
                     fmt: str | None = None, batch_size: int = 500,
                     on_batch: Callable[[IntakeResult], None] | None = None) -> IntakeResult:
        """Send a CSV/JSONL file's rows as one campaign (``campaign_id``: resume it, or name a new one).

        ``platform``, ``shop`` and ``reason`` fill in rows without them. Invalid rows come back in
        ``invalid`` as (line, reason); with ``strict`` any invalid row sends nothing (``refused``).
        ``webhook``: a URL that gets the campaign's ``campaign.finished`` events, signed and retried; its
        endpoint id and secret come back in ``webhook_endpoint`` / ``webhook_secret`` (the secret only here).
        """
        endpoint = None
        if webhook:
            campaign_id = campaign_id or new_campaign_id()
            endpoint = campaign_endpoint(self.rt, campaign_id, webhook)  # before any row: no finish precedes it
        options = RunOptions(Path(path), fmt, Defaults(platform, shop, reason), campaign_id, strict, dry_run,
                             max_rate, webhook, batch_size)
        try:
            result = run_campaign(self.rt, options, on_batch=on_batch)
        except Exception:
            if endpoint is not None:
                endpoints_of(self.rt).remove(endpoint.id)
            raise
        if endpoint is not None:
            result.webhook_endpoint, result.webhook_secret = endpoint.id, endpoint.secret
        return result

    def campaign(self, campaign_id: str) -> Campaign:
        """The campaign's record and live counters (CampaignNotFound when there is none)."""
        return store(self.rt).get(campaign_id)

    def campaigns(self, limit: int = 20) -> list[Campaign]:
        return store(self.rt).recent(limit)

    def campaign_report(self, campaign_id: str) -> Iterator[ReportRow]:
        """One row per input row, in line order: outcome, platform code and message, request id, attempts, times."""
        store(self.rt).get(campaign_id)
        return report_rows(self.rt, campaign_id)

    def pause_campaign(self, campaign_id: str, reason: str = "") -> Campaign:
        return store(self.rt).pause(campaign_id, reason)

    def resume_campaign(self, campaign_id: str) -> Campaign:
        return store(self.rt).resume(campaign_id)

    def abort_campaign(self, campaign_id: str, reason: str = "") -> Campaign:
        """Writes not yet sent are never sent (those jobs end ``aborted``); writes in flight finish."""
        return store(self.rt).abort(campaign_id, reason)[0]

    def redo_failed(self, campaign_id: str) -> list[JobHandle]:
        """Replay the campaign's dead letters (after a fix): a new round, announced again when it ends."""
        campaigns = store(self.rt)
        dead = [entry["job_id"] for entry in self.rt.dead_letters.iter(DeadFilter(campaign=campaign_id))]
        if not dead:
            return []
        campaigns.reopen(campaign_id)
        for job_id in dead:  # counted as queued before any can run: the round ends with its last job, once
            campaigns.move(campaign_id, job_id, "queued")
        handles = [self.replay(job_id) for job_id in dead]
        if campaigns.resync(campaign_id, dead):
            announce(self.rt, campaign_id, background=False)
        return handles


@lru_cache(maxsize=1)
def default_client() -> CancelQ:
    return CancelQ()


def submit(job: Mapping[str, Any], *, force: bool = False) -> JobHandle:
    return default_client().submit(job, force=force)


__all__ = ["AmbiguousJob", "CancelQ", "DeadFilter", "JobHandle", "JobNotFound", "Resumed", "ScopeError", "Verified",
           "default_client", "submit"]
