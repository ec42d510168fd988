"""A campaign's intake: stream a file into the queue in pipelined batches, through the same idempotency as
single jobs.

Each batch of rows is checked (schema, shop, reason), recorded with the ledger's own intake script
(pipelined: one round trip a batch, each job still atomic under its idempotency key), counted into
the campaign by one script that also records each row's line and moves the campaign's resume point,
then sent. So running the same file again sends nothing new, and a run that crashed, resumed with the
same campaign id, skips the lines already recorded and sends what the crash left unsent (a message
sent twice is harmless: the job's lease and final state stop the second one; a message never sent is
sent by the delayed set's safety net).

Messages go out in batches too: on a Redis broker, as Celery protocol-2 messages pushed in one
pipeline (``app.send_task`` costs ~1.5 ms a message); on any other broker, one by one.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import redis

from cancelq.campaigns.files import Defaults, Row, RowChecker, read_rows
from cancelq.campaigns.store import Campaign, new_campaign_id, store
from cancelq.campaigns.tracking import announce
from cancelq.core import connections
from cancelq.jobs.contract import TASK_NAME, InvalidJob, Job
from cancelq.jobs.intake import summary
from cancelq.runtime import Runtime

REDIS_SCHEMES = ("redis", "rediss", "valkey", "valkeys", "unix", "redis+sentinel", "rediss+sentinel")
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
EMBED_JSON = json.dumps(EMBED)


@dataclass(frozen=True)
class RunOptions:
    """What ``cancelq campaign run`` takes (see its help)."""

    path: Path
    fmt: str | None = None
    defaults: Defaults = field(default_factory=Defaults)
    campaign_id: str | None = None
    strict: bool = False
    dry_run: bool = False
    max_rate: float | None = None
    webhook: str | None = None
    batch_size: int = 500
    keep_invalid: int = 100


@dataclass
class IntakeResult:
    """What one intake run did. ``invalid`` keeps the first ``keep_invalid`` (line, reason); all are in the report."""

    campaign_id: str
    resumed: bool = False
    refused: bool = False
    read: int = 0
    skipped: int = 0
    valid: int = 0
    sent: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    invalid_count: int = 0
    finished: bool = False
    elapsed_s: float = 0.0
    webhook_endpoint: str = ""
    """The campaign's own webhook endpoint (``--webhook``), and its secret, shown once."""
    webhook_secret: str = field(default="", repr=False)

    @property
    def rows_per_s(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def note_invalid(self, line: int, reason: str, keep: int) -> None:
        self.invalid_count += 1
        if len(self.invalid) < keep:
            self.invalid.append((line, reason))


@dataclass
class _Batch:
    jobs: list[tuple[int, Job]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    last_line: int = 0

    def __len__(self) -> int:
        return len(self.jobs) + len(self.invalid)


def run_campaign(rt: Runtime, options: RunOptions,
                 on_batch: Callable[[IntakeResult], None] | None = None) -> IntakeResult:
    """Read the file and send its valid rows as jobs of one campaign (new, or resumed by id)."""
    started = time.perf_counter()
    campaign_id = options.campaign_id or new_campaign_id()
    if options.strict:
        refused = _strict_check(rt, options, campaign_id)
        if refused.invalid_count:
            refused.elapsed_s = time.perf_counter() - started
            return refused
    campaign, resumed = store(rt).open(campaign_id, dry_run=options.dry_run, source=options.path.name,
                                       max_rate=options.max_rate, webhook=options.webhook)
    result = IntakeResult(campaign.id, resumed=resumed)
    _intake(rt, options, campaign, result, on_batch)
    result.finished = store(rt).intake_done(campaign.id)
    if result.finished:
        announce(rt, campaign.id, background=False)
    result.elapsed_s = time.perf_counter() - started
    return result


def _checker(rt: Runtime, options: RunOptions, campaign_id: str) -> RowChecker:
    return RowChecker(rt, campaign_id, options.defaults, options.dry_run)


def _strict_check(rt: Runtime, options: RunOptions, campaign_id: str) -> IntakeResult:
    """--strict: a first pass over the whole file; any invalid row refuses it (nothing recorded, nothing sent)."""
    checker, result = _checker(rt, options, campaign_id), IntakeResult(campaign_id, refused=True)
    for row in read_rows(options.path, options.fmt):
        result.read += 1
        try:
            checker.check(row)
        except InvalidJob as exc:
            result.note_invalid(row.line, str(exc), options.keep_invalid)
    return result


def _intake(rt: Runtime, options: RunOptions, campaign: Campaign, result: IntakeResult,
            on_batch: Callable[[IntakeResult], None] | None) -> None:
    checker, publisher, batch = _checker(rt, options, campaign.id), Publisher(rt), _Batch()
    for row in read_rows(options.path, options.fmt):
        if row.line <= campaign.lines_done:
            result.skipped += 1
            continue
        result.read += 1
        _add(checker, row, batch, result, options.keep_invalid)
        if len(batch) >= options.batch_size:
            _flush(rt, campaign.id, batch, publisher, result)
            batch = _Batch()
            if on_batch is not None:
                on_batch(result)
    _flush(rt, campaign.id, batch, publisher, result)


def _add(checker: RowChecker, row: Row, batch: _Batch, result: IntakeResult, keep: int) -> None:
    batch.last_line = row.line
    try:
        batch.jobs.append((row.line, checker.check(row)))
    except InvalidJob as exc:
        batch.invalid.append((row.line, json.dumps({"reason": str(exc), **checker.describe(row)})))
        result.note_invalid(row.line, str(exc), keep)


def _flush(rt: Runtime, campaign_id: str, batch: _Batch, publisher: Publisher, result: IntakeResult) -> None:
    if not len(batch):
        return
    encoded = [job.encoded() for _, job in batch.jobs]
    intakes = rt.ledger.intake_many([job for _, job in batch.jobs], encoded)
    rows = [(line, admitted.job_id, admitted.created, admitted.state)
            for (line, _), admitted in zip(batch.jobs, intakes, strict=True)]
    to_send = store(rt).account(campaign_id, rows=rows, invalid=batch.invalid, last_line=batch.last_line)
    summaries = {admitted.job_id: summary(job) for (_, job), admitted in zip(batch.jobs, intakes, strict=True)}
    publisher.send(to_send, summaries, {admitted.job_id: text for text, admitted in zip(encoded, intakes, strict=True)})
    result.valid += len(batch.jobs)
    result.sent += len(to_send)


class Publisher:
    """Sends ``{"job_id": ...[, "job": ...]}`` messages for task ``cancelq.cancel``: one pipeline a batch on a Redis
    broker."""

    def __init__(self, rt: Runtime) -> None:
        broker = rt.settings.broker_url or rt.redis_url
        self.queue = rt.settings.queue
        self.raw = broker.split("://", 1)[0] in REDIS_SCHEMES
        self.client: redis.Redis | None = None
        if self.raw:
            self.client = rt.redis if broker == rt.redis_url else connections.client(broker)
        self.origin = f"cancelq-campaign@{socket.gethostname()}"
        self.sender = rt.sender

    def send(self, job_ids: list[str], summaries: dict[str, str] | None = None,
             jobs: dict[str, str] | None = None) -> None:
        """``jobs``: by id, the jobs as recorded (``Job.encoded()``), for the messages to carry (``app.publish``)."""
        if not job_ids:
            return
        summaries, jobs = summaries or {}, jobs or {}
        if self.client is None:
            for job_id in job_ids:
                text = jobs.get(job_id)
                self.sender.send(job_id, summaries.get(job_id), json.loads(text) if text is not None else None)
            return
        self.client.lpush(self.queue, *(self.message(job_id, summaries.get(job_id), jobs.get(job_id))
                                        for job_id in job_ids))

    def message(self, job_id: str, summary: str | None = None, job: str | None = None) -> str:
        """The message kombu's Redis transport would store for ``app.publish`` (Celery protocol 2).

        ``job`` is JSON already (``Job.encoded()``) and goes into the body as it is."""
        task_id = str(uuid.uuid4())
        args = (f'{{"job_id": {json.dumps(job_id)}, "job": {job}}}' if job is not None
                else f'{{"job_id": {json.dumps(job_id)}}}')
        body = base64.b64encode(f"[[{args}], {{}}, {EMBED_JSON}]".encode()).decode()
        return self._template % {"body": body, "id": task_id, "tag": task_id,
                                 "argsrepr": json.dumps(f"job={job_id} {summary}" if summary else f"job={job_id}")}

    @cached_property
    def _template(self) -> str:
        """The message's JSON with %(...)s holes: json.dumps of the whole dict per message costs 3x more."""
        marks = {"body": "@@body@@", "id": "@@id@@", "tag": "@@tag@@", "argsrepr": "@@argsrepr@@"}
        text = json.dumps({
            "body": marks["body"], "content-encoding": "utf-8", "content-type": "application/json",
            "headers": {
                "lang": "py", "task": TASK_NAME, "id": marks["id"], "shadow": None, "eta": None, "expires": None,
                "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": marks["id"],
                "parent_id": None, "argsrepr": marks["argsrepr"], "kwargsrepr": "{}", "origin": self.origin,
                "ignore_result": True, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
            },
            "properties": {
                "correlation_id": marks["id"], "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                "delivery_info": {"exchange": "", "routing_key": self.queue}, "delivery_tag": marks["tag"],
            },
        })
        text = text.replace("%", "%%").replace('"@@argsrepr@@"', "%(argsrepr)s")
        for name, mark in marks.items():
            text = text.replace(mark, f"%({name})s")
        return text


__all__ = ["IntakeResult", "Publisher", "RunOptions", "run_campaign"]
