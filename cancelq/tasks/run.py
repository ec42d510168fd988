"""One delivery of one job, top to bottom: take the lease, run the platform's steps, record the outcome.

The ledger says where the job stands; the adapter makes the platform calls through this delivery's own
gate (``DeliveryGate``, its throttle); ``policy.decide`` says what every error means and this module
carries the decision out. Step results stay in memory until the job's next write (a wait or the outcome):
the gate marks a write in flight before it is sent, so a delivery that dies loses nothing it needs — the
next one reads the order first.
"""

from __future__ import annotations

import random
import time
from typing import Any

from cancelq.campaigns.tracking import JobHook
from cancelq.core import counters
from cancelq.gate import clockwatch
from cancelq.gate.budget import Budget
from cancelq.gate.controls import job_scopes
from cancelq.gate.delivery import Deferred, DeliveryGate, LeaseLost
from cancelq.gate.limits import Reservation
from cancelq.jobs.contract import InvalidJob, Job, parse_job
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.jobs.states import JobState
from cancelq.platforms.base import CancelRequest, Platform, StepSpec
from cancelq.platforms.errors import AlreadyCancelled, ConfigError, PermanentError
from cancelq.runtime import Runtime
from cancelq.shops.registry import Shop
from cancelq.tasks.policy import BEFORE_US, CONFIRMED, Context, Decision, after_read, decide
from cancelq.tasks.record import Recorder, error_record

_rng = random.Random()


class JobRun(Recorder):
    """One delivery of one job. ``hint`` is the job as its message carried it: a fresh job's lease is then
    taken by its first gate call (``DeliveryGate.begin_here``); any other delivery begins with
    ``Ledger.begin``."""

    job: Job
    shop: Shop
    adapter: Platform

    def __init__(self, runtime: Runtime, job_id: str, job: dict[str, Any] | None = None) -> None:
        super().__init__(runtime, job_id)
        self.hint = job
        self.settings = runtime.settings
        self.refreshed = False
        self.current: StepSpec | None = None
        self.step_started: float | None = None
        self.unresolved = False
        """A write's fate is unknown: a read after it failed (the next delivery reads the order first)."""
        self._gate: DeliveryGate | None = None

    @property
    def gate(self) -> DeliveryGate:
        """This delivery's gate, made with its shop (``use_shop``)."""
        assert self._gate is not None, "a delivery's gate is made when its shop is known"
        return self._gate

    def run(self) -> None:
        if self.hint is not None and self.prepare_fresh(self.hint):
            self.guarded(self.execute)
        elif self.begin():
            self.run_recorded()

    def guarded(self, body: Any) -> None:
        try:
            body()
        except Exception as exc:
            self.handle(exc)

    def prepare_fresh(self, hint: dict[str, Any]) -> bool:
        """Prepare the gate to take the lease in the first call, where nothing must happen before it."""
        try:
            job = parse_job(hint, schema_checked=True, recorded=True)
        except (InvalidJob, ValueError, TypeError, KeyError, RecursionError):  # not the recorded job: begin plainly
            return False
        shop = self.rt.shops.get(job.platform, job.shop)
        if shop is None or shop.needs_reauth or shop.parked or self.rt.tokens.due(shop):
            return False
        campaign = JobHook.of(self.rt, self.job_id, hint) if job.campaign_id else None
        if campaign is not None and campaign.holds(dry_run=job.dry_run):
            return False
        self.job, self.campaign = job, campaign
        try:
            self.use_shop(shop)
        except ConfigError:  # unusable credentials: parked by the plain path
            return False
        self.gate.begin_here(job.encoded())
        self.rec = JobRecord(job_id=self.job_id, state=JobState.RUNNING, job=hint, deliveries=1, created_at=now_ms())
        self.log = self.log.bind(**_context(hint))
        return True

    def begin(self) -> bool:
        """Take the job's lease from the ledger; False when this delivery has nothing to do."""
        begin = self.rt.ledger.begin(self.job_id)
        if begin.kind == "busy" and begin.at_ms is not None:
            self.rt.delayed.schedule(self.job_id, begin.at_ms + 50)
        if begin.kind == "missing":
            self.rt.ledger.reject({"job_id": self.job_id}, f"job_id: the ledger holds no job {self.job_id} (never "
                                  "recorded, or its record expired)", source="broker")
        if begin.kind != "run" or begin.record is None:
            return False
        self.rec = begin.record
        if self._gate is not None:
            self._gate.hold(self.rec.fence)
        return True

    def settled(self) -> bool:
        """After a call: the ledger's record in hand, lease held (begun by the gate, or now). False: not ours."""
        if self._gate is None or self._gate.begin is not None:  # the first call never reached the gate
            return self.begin()
        taken = self.gate.begun
        if taken is not None:
            self.gate.begun = None
            self.rec = JobRecord.from_hash(taken)  # fresh: no step was recorded before this delivery's first
            if self.campaign is not None:
                self.campaign.moved("")
        return True

    def run_recorded(self) -> None:
        """Run the job from the ledger's record (after ``begin``)."""
        self.campaign = JobHook.start(self.rt, self.job_id, self.rec.job)
        self.log = self.log.bind(**_context(self.rec.job))
        if self.rec.deliveries > self.settings.poison_deliveries:
            self.dead("poison", PermanentError(
                f"delivered {self.rec.deliveries} times without an outcome",
                platform=self.rec.job.get("platform", "?"), code="poison"))
            return
        try:
            self.job = parse_job(self.rec.job, schema_checked=True, recorded=True)  # checked at intake
            shop = self._shop(self.job)
            self.use_shop(shop)
        except InvalidJob as exc:
            self.reject(str(exc))
            return
        except ConfigError as exc:  # the shop's stored credentials cannot make an adapter
            self.park(shop, exc, self.decide(exc, Context()))
            return
        self.gate.hold(self.rec.fence)
        self.gate.reservation = Reservation.decode(self.rec.reservation)
        self.guarded(self.execute)

    def _shop(self, job: Job) -> Shop:
        shop = self.rt.shops.get(job.platform, job.shop)
        if shop is None:
            raise InvalidJob(f"shop: no {job.platform} shop named {job.shop!r} in the registry")
        return shop

    def use_shop(self, shop: Shop) -> None:
        """Run with ``shop`` (a fresh token after a refresh): its adapter, calling this delivery's gate."""
        if self._gate is None:
            self._gate = self.rt.delivery_gate(shop, self.job_id)
        self.shop = shop
        self.adapter = self.rt.adapter(shop, self.gate)

    def execute(self) -> None:
        """Run the flow's steps not yet done."""
        if self.campaign is not None and not self.rec.inflight:
            self.campaign.check(dry_run=self.job.dry_run)
        if self.shop.needs_reauth:
            raise Deferred(self.settings.auth_wait_s, "needs_reauth")
        if self.shop.parked:
            raise Deferred(self.settings.config_recheck_s, "parked:config_fault")
        if self.rt.clock.fault_for(self.job.platform):
            raise Deferred(self.settings.pause_recheck_s, "clock_fault")
        if self.rt.tokens.due(self.shop):
            self.use_shop(self.rt.tokens.refresh(self.shop, seen_token=self.shop.access_token))
        if self.job.dry_run:
            self.preview()
            return
        request = self.job.request()
        if self.rec.inflight and self.reconcile(request):
            return
        for spec in self.adapter.plan(request):
            if spec.name in self.rec.steps:
                continue
            outcome = self.run_step(spec, request)
            if outcome is not None:
                self.finish(outcome, attribution=CONFIRMED if outcome == JobState.SUCCEEDED else BEFORE_US,
                            reset_circuits=self.gate.circuit_touched)
                return
        self.finish(JobState.SUCCEEDED, attribution=CONFIRMED, reset_circuits=self.gate.circuit_touched)

    def run_step(self, spec: StepSpec, request: CancelRequest) -> str | None:
        """One step through the gate; the outcome it settled, if any. Raises what the call raised."""
        self.current = spec
        pace = self.campaign.limit if self.campaign is not None and spec.writes else None
        self.gate.for_step(write_step=spec.name if spec.writes else None,
                           scopes=job_scopes(self.rec.job) if spec.writes else (), pace=pace,
                           budget=self._budget() if spec.writes else None)
        started = self.step_started = time.perf_counter()
        result = self.adapter.run_step(spec.name, request, {n: s["data"] for n, s in self.rec.steps.items()})
        if not self.settled():
            raise LeaseLost("the job's lease could not be taken")
        self.rec.steps[spec.name] = {"data": dict(result.data), "request_id": result.request_id, "at": now_ms()}
        if spec.writes:
            self.evidence["write_request_id"] = result.request_id
        elif "write_request_id" in self.evidence:
            self.evidence["read_request_id"] = result.request_id
        self.rec.inflight, self.step_started, self.current = "", None, None
        counters.step_observed(self.job.platform, spec.name, time.perf_counter() - started, ok=True)
        if self.gate.probing:
            self.rt.circuits.success(self.job.platform, self.job.shop)
            self.gate.probing = False
        self.log.debug("step", step=spec.name, api=spec.api, attempt=self.rec.attempts + 1,
                       request_id=result.request_id, duration_ms=round((time.perf_counter() - started) * 1000, 1),
                       outcome=result.outcome.value if result.outcome else "ok")
        return result.outcome.value if result.outcome is not None else None

    def _budget(self) -> Budget | None:
        """The shop's cancellation budget, when this job's reason counts in it (None: off, no cost). Accepting a
        buyer's own request is no seller-initiated cancel: it never counts."""
        if self.job.request().accepting:
            return None
        budget = self.rt.budget_for(self.shop) if self.shop.budget or self.settings.cancel_budgets else None
        return budget if budget is not None and budget.counts(self.job.reason.value) else None

    def preview(self) -> None:
        """A dry run: what a cancel would do, from reads only (no write call leaves the worker); ``previewed``."""
        self.gate.for_step(write_step=None, pace=self.campaign.limit if self.campaign is not None else None)
        try:
            found = self.adapter.preview(self.job.request())
            data: dict[str, Any] = {"state": found.state.value, "raw_status": found.raw_status,
                                    "side_effects": list(found.side_effects)}
            request_id = found.request_id
        except ConfigError:  # a setting, not the order: the scope parks
            raise
        except (AlreadyCancelled, PermanentError) as exc:  # the order cannot be cancelled, or needs no cancel
            data = {"state": "cancelled" if isinstance(exc, AlreadyCancelled) else "not_cancellable",
                    "raw_status": "", "side_effects": [], "code": exc.code, "message": exc.message}
            request_id = exc.request_id
        if not self.settled():
            return
        self.rec.steps["preview"] = {"data": data, "request_id": request_id, "at": now_ms()}
        self.log.info("step", step="preview", order_state=data["state"], request_id=request_id)
        self.finish(JobState.PREVIEWED)

    def reconcile(self, request: CancelRequest, *, after: Exception | None = None) -> bool:
        """Read the order before any second write; True when that settled the job (or stopped the delivery)."""
        self.unresolved, self.current = True, None
        self.gate.for_step(write_step=None)
        status = self.adapter.read_status(request)
        self.unresolved = False
        self.evidence.update(read_request_id=status.request_id, order_status=status.raw_status)
        self.log.info("reconciled", order_state=status.state.value, raw_status=status.raw_status,
                      request_id=status.request_id, after=getattr(after, "code", None) or "resume")
        write_at = self.gate.write_at or (self.rec.inflight_at / 1000 if self.rec.inflight_at else None)
        decision = after_read(status.state, after=after, status=status, write_at=write_at)
        if decision.action == "restart":
            self.rec.steps, self.rec.inflight = {}, ""
            return False
        if decision.action == "dead":
            self.dead("permanent", PermanentError(
                f"the order is {status.raw_status} and can no longer be cancelled", platform=self.job.platform,
                step="read_status", code="not_cancellable", request_id=status.request_id))
            return True
        self.finish(decision.state, attribution=decision.attribution, reset_circuits=self.gate.circuit_touched)
        return True

    def handle(self, error: Exception) -> None:
        """Hand the error to the policy and carry out its decision."""
        if not self.settled():
            return
        if self.step_started is not None and self.current is not None and not isinstance(error, Deferred):
            counters.step_observed(self.job.platform, self.current.name, time.perf_counter() - self.step_started,
                                   ok=False)
        self.step_started = None
        writing = self.current is not None and self.current.writes
        context = Context(writing=writing, sent=self.gate.sent if writing else 0, unresolved=self.unresolved)
        self.carry_out(self.decide(error, context), error)

    def decide(self, error: Exception, context: Context) -> Decision:
        return decide(error, attempts=self.rec.attempts, age_s=(now_ms() - self.rec.created_at) / 1000,
                      refreshed=self.refreshed, settings=self.settings, context=context, rng=_rng)

    def carry_out(self, decision: Decision, error: Exception) -> None:
        write_step = self.current.name if self.current is not None and self.current.writes else ""
        self.rec.inflight = (self.rec.inflight or write_step) if decision.keep_inflight else ""
        if decision.refused and write_step:
            self.rec.write_refused = write_step
        self.note_pressure(decision)
        action = decision.action
        if action == "stop":
            self.lease_lost(str(error))
        elif action == "begin":
            self.run_recorded()
        elif action == "finish":
            self.finish(decision.state, attribution=decision.attribution,
                        reset_circuits=decision.state != JobState.ABORTED and self.gate.circuit_touched)
        elif action == "reconcile":
            self.reconcile_after(error)
        elif action in ("defer", "wait"):
            self.wait(error, decision)
        elif action == "park":
            self.park(self.shop, error, decision)
        elif action == "refresh":
            self.refresh_and_retry()
        elif action == "reject":
            self.reject(decision.why)
        else:
            self.dead(decision.kind, error)

    def reconcile_after(self, error: Exception) -> None:
        """A write's fate is unknown: read the order; if the write did not take effect, decide on the error."""
        request = self.job.request()
        try:
            if self.reconcile(request, after=error):
                return
        except Exception as read_error:
            self.handle(read_error)
            return
        self.carry_out(self.decide(error, Context()), error)

    def note_pressure(self, decision: Decision) -> None:
        """A platform's slow-down cools the scope for every worker; other transient failures feed the circuit."""
        if decision.cool_down_s is not None:
            api = self.current.api if self.current is not None else ""
            self.rt.gate.cool_down(self.rt.shop_limits(self.shop).scope_for(api), decision.cool_down_s)
        elif decision.circuit and self.rt.circuits.failure(self.job.platform, self.job.shop,
                                                           store_locked=decision.store_locked):
            self.log.warning("circuit_opened", why=decision.why)
        self.gate.probing = False

    def wait(self, error: Exception, decision: Decision) -> None:
        reservation = ""
        if isinstance(error, Deferred):
            record = {"error_class": "Deferred", "code": error.why, "message": str(error), "request_id": None}
            counters.limiter_wait(self.job.platform, error.delay_s, why=error.why)
            reservation = error.reservation.encoded() if error.reservation is not None else ""
        else:
            record = error_record(error, self.job.platform)
        self.wait_record(record, decision.delay_s, decision.counts_attempt, decision.why, reservation)

    def park(self, shop: Shop, error: Exception, decision: Decision) -> None:
        """A configuration fault: park the shops it implicates (the first delivery to meet it alerts, once) and
        wait without using an attempt."""
        if isinstance(error, ConfigError) and error.scope == "clock":
            clockwatch.refused(self.rt.redis, self.rt.clock, self.rt.worker_name, shop.platform, error.message)
        elif isinstance(error, ConfigError):
            parked = self.rt.parking.park(shop, error)
            if parked:
                self.log.warning("scope_parked", scope=error.scope, shops=parked, code=error.code,
                                 message=error.message, request_id=error.request_id)
                counters.scope_parked(shop.platform, error.scope)
        self.wait(error, decision)

    def refresh_and_retry(self) -> None:
        """Refresh the token (or take the one another worker just got) and retry once."""
        self.refreshed = True
        try:
            self.use_shop(self.rt.tokens.refresh(self.shop, seen_token=self.shop.access_token))
            self.execute()
        except Exception as exc:
            self.handle(exc)


def _context(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job.get(k) for k in ("platform", "shop", "order_id", "campaign_id")}


__all__ = ["JobRun"]
