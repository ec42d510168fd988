"""The throttle hook given to every adapter: the fleet-wide gate, called before each platform call.

A short wait is slept here; a longer one raises ``Deferred`` so the job gives
its worker slot back and waits on the delayed set instead (without using an
attempt). The job being run is read from a context variable, because adapters
are shared between the jobs of one shop.
"""

from __future__ import annotations

import contextvars
import time

from cancelq.gate.circuits import Circuits
from cancelq.gate.controls import is_abort
from cancelq.gate.limits import BeginHere, Gate, Limit, WriteMark, app_scope, shop_scope
from cancelq.ops import metrics
from cancelq.shops.registry import Shop

current_job: contextvars.ContextVar[str] = contextvars.ContextVar("cancelq_current_job", default="-")
probing: contextvars.ContextVar[bool] = contextvars.ContextVar("cancelq_probing", default=False)
sent: contextvars.ContextVar[int] = contextvars.ContextVar("cancelq_sent", default=0)
"""Calls the gate let through since the orchestrator last reset it (at the start of each step)."""
circuit_dirty: contextvars.ContextVar[bool] = contextvars.ContextVar("cancelq_circuit_dirty", default=False)
"""The gate saw failures counted on the running job's circuits: the job's good end must reset them."""
write_mark: contextvars.ContextVar[WriteMark | None] = contextvars.ContextVar("cancelq_write_mark", default=None)
"""Set by the task around a write step: the gate checks its pauses and records it in flight as it lets it go."""
begin_here: contextvars.ContextVar[BeginHere | None] = contextvars.ContextVar("cancelq_begin_here", default=None)
"""Set by the task when the job's message carried the job: the first gate call takes the job's lease."""
begun: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("cancelq_begun", default=None)
"""The job's record as that first gate call found it, lease taken: the task takes it up after the call."""
campaign_limit: contextvars.ContextVar[tuple[str, Limit] | None] = contextvars.ContextVar(
    "cancelq_campaign_limit", default=None)
"""(scope, limit) of the running job's campaign ``--max-rate``, set by the task around the calls it paces."""


class Deferred(Exception):
    """Not now: the gate holds this call for ``delay_s`` (``why``: rate_limit, cooldown, circuit_open, paused...)."""

    def __init__(self, delay_s: float, why: str) -> None:
        super().__init__(f"deferred {delay_s:.3f}s: {why}")
        self.delay_s = delay_s
        self.why = why


class BeginFirst(Exception):
    """The first gate call found the job not fresh (or not as its message said) and took nothing: the task must
    begin it from the ledger's record."""


class Aborted(Exception):
    """The job's campaign was aborted before the job's write was sent: it ends ``aborted``."""


class Throttle:
    def __init__(self, gate: Gate, shop: Shop, limit: Limit, *, short_wait_s: float,
                 pause_recheck_s: float) -> None:
        self.gate = gate
        self.limit = limit
        self.short_wait_s = short_wait_s
        self.pause_recheck_s = pause_recheck_s
        self.platform = shop.platform
        self.scope = shop_scope(shop.platform, shop.name, shop.credentials)
        self.app_scope = app_scope(shop.platform, shop.credentials)
        self.circuits = Circuits.names_for(shop.platform, shop.name)

    def scope_for(self, api: str) -> str:
        return f"{self.scope}:{api}" if self.limit.per_api else self.scope

    def limits_for(self, api: str) -> list[tuple[str, Limit]]:
        limits = [(self.scope_for(api), self.limit)]
        if self.limit.app is not None:
            app = f"{self.app_scope}:{api}" if self.limit.per_api else self.app_scope
            limits.append((app, self.limit.app))
        return limits

    def __call__(self, api: str) -> None:
        """Pass, after at most ``short_wait_s`` of sleeping in all, or raise Deferred.

        The budget is per call, not per wait: a worker slot is never held long by a
        busy shop, so the other shops' jobs keep their share of the workers.
        """
        scope, limits = self.scope_for(api), self.limits_for(api)
        extra = campaign_limit.get()
        if extra is not None:
            limits.append(extra)
        budget_s = self.short_wait_s
        mark = write_mark.get()
        begin = begin_here.get()
        while True:
            verdict = self.gate.check(limits=limits, cooldowns=[scope], circuits=self.circuits,
                                      job_id=current_job.get(), mark=mark, begin=begin)
            if begin is not None:
                if verdict.record is None:
                    raise BeginFirst()
                begin_here.set(None)
                begun.set(verdict.record)
                begin = None
            if verdict.paused is not None:
                paused_scope, value = verdict.paused
                if is_abort(value):
                    raise Aborted(f"{paused_scope} was aborted")
                raise Deferred(self.pause_recheck_s, f"paused:{paused_scope}")
            if verdict.dirty:
                circuit_dirty.set(True)
            if verdict.allowed:
                sent.set(sent.get() + 1)
                if verdict.why == "probe":
                    probing.set(True)
                return
            if verdict.wait_s > budget_s:
                raise Deferred(verdict.wait_s, verdict.why)
            budget_s -= verdict.wait_s
            metrics.limiter_wait(self.platform, verdict.wait_s, why=verdict.why)
            time.sleep(verdict.wait_s)
