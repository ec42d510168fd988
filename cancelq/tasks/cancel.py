"""The cancel task: run one job through its platform's steps to a sure outcome.

The task is orchestration only: the ledger says where the job stands, the
adapter does the platform calls, ``policy.decide`` says what an error means.
"""

from __future__ import annotations

import random
import time
from typing import Any

import redis
import structlog

from cancelq.campaigns.tracking import Aborted, JobHook
from cancelq.core import keys
from cancelq.gate.controls import job_scopes
from cancelq.gate.delivery import (
    BeginFirst,
    Deferred,
    begin_here,
    begun,
    campaign_limit,
    circuit_dirty,
    current_job,
    probing,
    sent,
    write_mark,
)
from cancelq.gate.limits import BeginHere, WriteMark
from cancelq.jobs.contract import TASK_NAME, InvalidJob, Job, parse_job
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import JobRecord, add_event, now_ms
from cancelq.ops import metrics
from cancelq.platforms.base import OrderState, Outcome, StepSpec
from cancelq.platforms.errors import AlreadyCancelled, PermanentError, PlatformError, RateLimited, TransientError
from cancelq.runtime import Runtime, get_runtime
from cancelq.shops.registry import Shop
from cancelq.tasks.endings import DeadLettered, dead_lettered, waiting
from cancelq.tasks.policy import decide
from cancelq.worker.app import app

log = structlog.get_logger("cancelq.job")
_rng = random.Random()


@app.task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, typing=False, throws=(DeadLettered,))
def cancel(self: Any, *args: Any, **kwargs: Any) -> None:
    """Takes one JSON object: a job as in the schema, or ``{"job_id": ...}`` for a job already recorded."""
    runtime = get_runtime()
    accepted = accept_message(runtime, args, kwargs)
    if accepted is not None:
        run = JobRun(runtime, *accepted)
        with metrics.JOBS_RUNNING.track_inprogress():
            run.run()
        if run.ending is not None:
            raise run.ending  # Flower: a dead letter as FAILURE, a wait as RETRY (acked either way)


def accept_message(runtime: Runtime, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """(job id, the job if the message carried it) of a job to run; None when there is nothing to run."""
    if len(args) != 1 or kwargs or not isinstance(args[0], dict):
        reason = "the task takes exactly one argument: a JSON object (see cancelq/schemas/job.schema.json)"
        runtime.ledger.reject({"args": list(args), "kwargs": kwargs}, reason, source="broker")
        return None
    payload: dict[str, Any] = args[0]
    if set(payload) == {"job_id"}:
        return str(payload["job_id"]), None
    if set(payload) == {"job_id", "job"}:
        return str(payload["job_id"]), payload["job"] if isinstance(payload["job"], dict) else None
    admitted = admit(runtime, payload, source="broker")
    if admitted.rejected:
        log.warning("job_rejected", job_id=admitted.job_id, reason=admitted.reason)
        return None
    if not admitted.created:
        return None
    return admitted.job_id, admitted.job.to_dict() if admitted.job is not None else None


class JobRun:
    """One delivery of one job.

    ``job`` is the job as its message carried it. For a job that needs nothing before its first call,
    the lease is then taken by that call's gate script (``ratelimit.BeginHere``), and the ledger's record is
    taken up after the call; any other delivery begins with ``Ledger.begin``.
    """

    def __init__(self, runtime: Runtime, job_id: str, job: dict[str, Any] | None = None) -> None:
        self.rt = runtime
        self.job_id = job_id
        self.hint = job
        self.settings = runtime.settings
        self.refreshed = False
        self.writing: StepSpec | None = None
        self.current: StepSpec | None = None
        self.step_started: float | None = None
        self.ending: Exception | None = None
        self.campaign: JobHook | None = None

    def run(self) -> None:
        current_job.set(self.job_id)
        probing.set(False)
        circuit_dirty.set(False)
        write_mark.set(None)
        campaign_limit.set(None)
        begin_here.set(None)
        begun.set(None)
        if self.hint is not None and self.begin_on_first_call(self.hint):
            self.log = log.bind(job_id=self.job_id, **_context(self.rec.job))
            try:
                self.execute()
            except Exception as exc:
                self.handle(exc)
        elif self.begin():
            self.run_recorded()

    def begin_on_first_call(self, hint: dict[str, Any]) -> bool:
        """Prepare the gate to take the lease in the first call, where nothing must happen before it."""
        try:
            job = parse_job(hint, schema_checked=True)
        except InvalidJob:
            return False
        shop = self.rt.shops.get(job.platform, job.shop)
        if shop is None or shop.needs_reauth or self.rt.tokens.due(shop):
            return False
        campaign = JobHook.of(self.rt, self.job_id, hint) if job.campaign_id else None
        if campaign is not None and campaign.holds(dry_run=job.dry_run):
            return False
        self.job, self.shop, self.adapter, self.campaign = job, shop, self.rt.adapter(shop), campaign
        self.rec = JobRecord(job_id=self.job_id, state="running", job=hint, deliveries=1, created_at=now_ms())
        self.resumed_write = False
        ledger = self.rt.ledger
        begin_here.set(BeginHere(job.encoded(), now_ms(), ledger.lease_ms, ledger.safety_net_ms))
        return True

    def begin(self) -> bool:
        """Take the job's lease from the ledger; False when this delivery has nothing to do."""
        begin_here.set(None)
        begin = self.rt.ledger.begin(self.job_id)
        if begin.kind == "busy" and begin.at_ms is not None:
            self.rt.delayed.schedule(self.job_id, begin.at_ms + 50)
        if begin.kind != "run" or begin.record is None:
            return False
        self.rec = begin.record
        return True

    def settled(self) -> bool:
        """After a call: the ledger's record in hand, lease held (begun by the gate, or now). False: not ours."""
        if begin_here.get() is not None:  # the first call never reached the gate
            return self.begin()
        taken = begun.get()
        if taken is not None:
            begun.set(None)
            self.rec = JobRecord.from_hash(taken)  # fresh: no step was recorded before this delivery's first
            if self.campaign is not None:
                self.campaign.moved("running")
        return True

    def run_recorded(self) -> None:
        """Run the job from the ledger's record (after ``begin``)."""
        self.campaign = JobHook.start(self.rt, self.job_id, self.rec.job)
        self.resumed_write = bool(self.rec.inflight)
        self.log = log.bind(job_id=self.job_id, **_context(self.rec.job))
        if self.rec.deliveries > self.settings.poison_deliveries:
            self.dead("poison", PermanentError(
                f"delivered {self.rec.deliveries} times without an outcome", platform=self.rec.job.get("platform",
                                                                                                       "?"),
                code="poison"))
            return
        try:
            self.job = parse_job(self.rec.job, schema_checked=True)  # checked at intake; normalised again here
            self.shop = self._shop(self.job)
            self.adapter = self.rt.adapter(self.shop)
        except InvalidJob as exc:
            self.reject(str(exc))
            return
        try:
            self.execute()
        except Exception as exc:
            self.handle(exc)

    def _shop(self, job: Job) -> Shop:
        shop = self.rt.shops.get(job.platform, job.shop)
        if shop is None:
            raise InvalidJob(f"shop: no {job.platform} shop named {job.shop!r} in the registry")
        return shop

    def execute(self) -> None:
        """Run the flow's steps not yet done.

        Step results stay in memory until the job's next write to the ledger (a wait, the outcome, or a lease
        renewal once a third of the lease is used). A delivery that dies before then loses nothing it needs:
        the gate marked its write in flight before sending it, so the next delivery reads the order first,
        and otherwise it reads again from the first step.
        """
        if self.campaign is not None and not self.rec.inflight:
            self.campaign.check(dry_run=self.job.dry_run)
        if self.shop.needs_reauth:
            raise Deferred(self.settings.auth_wait_s, "needs_reauth")
        if self.rt.tokens.due(self.shop):
            self.use_shop(self.rt.tokens.refresh(self.shop, seen_token=self.shop.access_token))
        if self.job.dry_run:
            self.preview()
            return
        request = self.job.request()
        if self.rec.inflight and self.reconcile():
            return
        plan = self.adapter.plan(request)
        for index, spec in enumerate(plan):
            if spec.name in self.rec.steps:
                continue
            self.current = spec
            self.writing = spec if spec.writes else None
            write_mark.set(WriteMark(keys.job(self.job_id), spec.name, job_scopes(self.rec.job)) if spec.writes
                           else None)
            campaign_limit.set(self.campaign.limit if self.campaign is not None and spec.writes else None)
            sent.set(0)
            started = self.step_started = time.perf_counter()
            state = {name: step["data"] for name, step in self.rec.steps.items()}
            result = self.adapter.run_step(spec.name, request, state)
            if not self.settled():
                return
            self.rec.steps[spec.name] = {"data": dict(result.data), "request_id": result.request_id, "at": now_ms()}
            self.rec.inflight = ""
            self.step_started = None
            metrics.step_observed(self.job.platform, spec.name, time.perf_counter() - started, ok=True)
            if probing.get():
                self.rt.circuits.success(self.job.platform, self.job.shop)
                probing.set(False)
            self.log.debug("step", step=spec.name, api=spec.api, attempt=self.rec.attempts + 1,
                          request_id=result.request_id, duration_ms=round((time.perf_counter() - started) * 1000, 1),
                          outcome=result.outcome.value if result.outcome else "ok")
            write_mark.set(None)
            if result.outcome is not None:
                self.finish(result.outcome.value)
                return
            if index < len(plan) - 1 and self.rt.ledger.lease_wearing(self.rec):
                self.rt.ledger.save(self.rec, steps=self.rec.steps, inflight="")
        self.finish(Outcome.SUCCEEDED.value)

    def preview(self) -> None:
        """A dry run: what a cancel would do, from reads only (no write call leaves the worker); ``previewed``."""
        campaign_limit.set(self.campaign.limit if self.campaign is not None else None)
        try:
            found = self.adapter.preview(self.job.request())
            data: dict[str, Any] = {"state": found.state.value, "raw_status": found.raw_status,
                                    "side_effects": list(found.side_effects)}
            request_id = found.request_id
        except (AlreadyCancelled, PermanentError) as exc:  # the order cannot be cancelled, or needs no cancel
            data = {"state": "cancelled" if isinstance(exc, AlreadyCancelled) else "not_cancellable",
                    "raw_status": "", "side_effects": [], "code": exc.code, "message": exc.message}
            request_id = exc.request_id
        if not self.settled():
            return
        self.rec.steps["preview"] = {"data": data, "request_id": request_id, "at": now_ms()}
        self.log.info("step", step="preview", order_state=data["state"], request_id=request_id)
        self.finish("previewed")

    def reconcile(self, error: PlatformError | None = None) -> bool:
        """Read the order before any second write; True when that settled the job."""
        status = self.adapter.read_status(self.job.request())
        self.log.info("reconciled", order_state=status.state.value, raw_status=status.raw_status,
                      request_id=status.request_id, after=error.code if error else "resume")
        if status.state is OrderState.CANCELLED:
            ours = self.resumed_write or (error is not None and not isinstance(error, PermanentError))
            self.finish(Outcome.SUCCEEDED.value if ours else Outcome.ALREADY_CANCELLED.value)
            return True
        if status.state is OrderState.NOT_CANCELLABLE:
            self.dead("permanent", PermanentError(
                f"the order is {status.raw_status} and can no longer be cancelled", platform=self.job.platform,
                step="read_status", code="not_cancellable", request_id=status.request_id))
            return True
        # The write did not take effect: start the flow again from its first step, so a
        # multi-step flow (Lazada) sends its write only after a fresh read and validation.
        self.rec.steps, self.rec.inflight = {}, ""
        self.rt.ledger.save(self.rec, inflight="", steps={})
        return False

    def handle(self, error: Exception) -> None:
        write_mark.set(None)  # what follows (a reconcile read, a retry's refresh) is not the write
        if not self.settled():
            return
        if isinstance(error, BeginFirst):
            self.run_recorded()
            return
        if self.step_started is not None and self.current is not None and not isinstance(error, Deferred | Aborted):
            metrics.step_observed(self.job.platform, self.current.name, time.perf_counter() - self.step_started,
                                  ok=False)
        self.step_started = None
        if isinstance(error, Aborted):
            self.finish("aborted")
            return
        if self.writing is not None and sent.get():
            self.rec.inflight = self.writing.name  # the gate recorded it as it let the write go
        if isinstance(error, Deferred):
            self.defer(error)
            return
        if isinstance(error, PlatformError) and self.writing is not None and self.rec.inflight:
            if error.check_status:
                try:
                    if self.reconcile(error):
                        return
                except PlatformError as read_error:
                    error = read_error
                except Deferred as deferred:
                    self.defer(deferred, error)
                    return
            else:
                self.rt.ledger.save(self.rec, inflight="")
                self.rec.inflight = ""
        self.note_pressure(error)
        if isinstance(error, AlreadyCancelled):
            self.finish(Outcome.SUCCEEDED.value if self.resumed_write else Outcome.ALREADY_CANCELLED.value)
            return
        age_s = (now_ms() - self.rec.created_at) / 1000
        decision = decide(error, attempts=self.rec.attempts, age_s=age_s, refreshed=self.refreshed,
                          settings=self.settings, rng=_rng)
        if decision.action == "refresh":
            self.refresh_and_retry()
        elif decision.action == "wait":
            self.wait(error, decision.delay_s, decision.counts_attempt, decision.why)
        elif decision.action == "reject":
            self.reject(decision.why)
        elif decision.action == "finish":
            self.finish(Outcome.ALREADY_CANCELLED.value)
        else:
            self.dead(decision.kind, error)

    def note_pressure(self, error: Exception) -> None:
        """A platform's slow-down cools the scope for every worker; other transient failures feed the circuit."""
        platform, shop = self.job.platform, self.job.shop
        if isinstance(error, RateLimited):
            throttle = self.rt.throttle(self.shop)
            api = self.current.api if self.current is not None else ""
            wait_s = error.retry_after_s if error.retry_after_s is not None else self.settings.default_rate_limit_wait_s
            self.rt.gate.cool_down(throttle.scope_for(api), wait_s)
        elif isinstance(error, TransientError) and self.rt.circuits.failure(
                platform, shop, store_locked=error.code == "store_locked"):
            self.log.warning("circuit_opened", code=error.code)
        probing.set(False)

    def defer(self, deferred: Deferred, error: Exception | None = None) -> None:
        """Wait for the gate (limit, cooldown, open circuit, pause) without using an attempt."""
        record = _error_record(error, self.job.platform) if error is not None else {
            "error_class": "Deferred", "code": deferred.why, "message": str(deferred), "request_id": None}
        metrics.limiter_wait(self.job.platform, deferred.delay_s, why=deferred.why)
        self.wait_record(record, deferred.delay_s + _rng.uniform(0, min(1.0, deferred.delay_s)), False,
                         deferred.why)

    def use_shop(self, shop: Shop) -> None:
        self.shop = shop
        self.adapter = self.rt.adapter(shop)

    def refresh_and_retry(self) -> None:
        """Refresh the token (or take the one another worker just got) and retry once."""
        self.refreshed = True
        try:
            self.use_shop(self.rt.tokens.refresh(self.shop, seen_token=self.shop.access_token))
            self.execute()
        except Exception as exc:
            self.handle(exc)

    def wait(self, error: Exception, delay_s: float, counts: bool, why: str) -> None:
        self.wait_record(_error_record(error, self.job.platform), delay_s, counts, why)

    def wait_record(self, record: dict[str, Any], delay_s: float, counts: bool, why: str) -> None:
        attempts = self.rec.attempts + (1 if counts else 0)
        events = add_event(self.rec, "retry", why=why, delay_s=round(delay_s, 3), **_brief(record))
        due = now_ms() + int(delay_s * 1000)
        self.rt.ledger.wait(self.rec, due_ms=due, fields={
            "attempts": attempts, "last_error": record, "events": events, "steps": self.rec.steps,
            "inflight": self.rec.inflight, "wait_reason": why,
        })
        if self.campaign is not None:
            self.campaign.moved("waiting")
        self.log.info("waiting", why=why, delay_s=round(delay_s, 3), attempt=attempts, **_brief(record))
        metrics.retry_scheduled(self.rec.job.get("platform", "?"), record.get("error_class"), why)
        self.ending = waiting(record, why=why, delay_s=delay_s)

    def finish(self, state: str) -> None:
        events = add_event(self.rec, state)
        pipe = self.rt.redis.pipeline(transaction=False)  # a partial write only leaves a timer that finds it final
        self.rt.ledger.finish(self.rec, state=state, fields={"steps": self.rec.steps, "events": events}, pipe=pipe)
        if state in ("succeeded", "already_cancelled") and circuit_dirty.get():
            self.rt.circuits.reset(pipe, self.job.platform, self.job.shop)
        self._count(pipe, state)
        self.log.info("finished", outcome=state, attempts=self.rec.attempts, **_last_request(self.rec.steps))
        metrics.job_finished(self.rec.job.get("platform", "?"), state)
        self.ending = None

    def _count(self, pipe: redis.client.Pipeline, state: str) -> None:
        """Run the final write's pipeline, with the campaign's count of the move in it when there is one."""
        if self.campaign is None:
            pipe.execute()
            return
        self.campaign.move_with(pipe, state)
        results = pipe.execute(raise_on_error=False)
        failed = next((r for r in results[:-1] if isinstance(r, Exception)), None)
        if failed is not None:
            raise failed
        self.campaign.after(results, state)

    def dead(self, kind: str, error: Exception) -> None:
        record = _error_record(error, self.rec.job.get("platform", "?"))
        self.rec.events = add_event(self.rec, "dead", kind=kind, **_brief(record))
        entry = self.rt.dead_letters.entry_for(self.rec, record, kind)
        pipe = self.rt.redis.pipeline(transaction=True)
        self.rt.ledger.finish(self.rec, state="dead", pipe=pipe, fields={
            "steps": self.rec.steps, "events": self.rec.events, "last_error": record, "dead_kind": kind,
            "attempts": self.rec.attempts + (1 if kind == "exhausted" else 0),
        })
        self.rt.dead_letters.add(entry, pipe)
        self._count(pipe, "dead")
        self.rt.dead_letters.trim()
        self.log.warning("dead_lettered", kind=kind, **_brief(record))
        metrics.job_finished(self.rec.job.get("platform", "?"), "dead", record.get("code"))
        self.ending = dead_lettered(kind, record)

    def reject(self, reason: str) -> None:
        events = add_event(self.rec, "rejected", reason=reason)
        pipe = self.rt.redis.pipeline(transaction=True)
        self.rt.ledger.finish(self.rec, state="rejected", pipe=pipe,
                              fields={"reject_reason": reason, "events": events})
        pipe.zadd(keys.REJECTED, {self.job_id: now_ms()})
        self._count(pipe, "rejected")
        self.log.warning("job_rejected", reason=reason)
        metrics.job_finished(self.rec.job.get("platform", "?"), "rejected")
        self.ending = None


def _error_record(error: Exception, platform: str) -> dict[str, Any]:
    if isinstance(error, PlatformError):
        return error.to_dict()
    return {"error_class": type(error).__name__, "platform": platform, "code": "internal",
            "message": str(error)[:500], "http_status": None, "request_id": None, "step": None}


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {"error_class": record.get("error_class"), "code": record.get("code"),
            "request_id": record.get("request_id")}


def _last_request(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The platform's request id of the job's last step, for its one INFO line (the steps log at DEBUG)."""
    last = max(steps.items(), key=lambda item: item[1].get("at") or 0, default=None)
    return {"step": last[0], "request_id": last[1].get("request_id")} if last is not None else {}


def _context(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job.get(k) for k in ("platform", "shop", "order_id", "campaign_id")}


__all__ = ["JobRun", "accept_message", "cancel"]
