"""The gate as one delivery of one job sees it: the adapter's throttle callable, built per delivery.

Adapters are shared by every job of a shop, so the task hands each delivery's adapter its own
``DeliveryGate`` (``adapter.with_throttle(gate)``). The task tells it what the next calls are (``for_step``:
a write to mark in flight, a campaign's pace) and, for a fresh job whose message carried it, that the first
call takes the job's lease (``begin_here``). It reports back what it saw: the record the first call began,
the fencing token of the lease, calls let through in the current step, whether this delivery holds a
half-open circuit's probe, whether the job's circuits counted failures.

A short wait is slept here; a longer one raises ``Deferred`` so the job gives its worker slot back and
waits on the delayed set instead (without using an attempt).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cancelq.gate.budget import BUYER_APIS, Budget
from cancelq.gate.circuits import Circuits
from cancelq.gate.controls import is_abort
from cancelq.gate.limits import BeginHere, Gate, Lease, Limit, Reservation, Verdict, WriteMark, app_scope, shop_scope


class Deferred(Exception):
    """Not now: the gate holds this call for ``delay_s`` (``why``: rate_limit, cooldown, circuit_open, paused...)."""

    def __init__(self, delay_s: float, why: str, reservation: Reservation | None = None) -> None:
        super().__init__(f"deferred {delay_s:.3f}s: {why}")
        self.delay_s = delay_s
        self.why = why
        self.reservation = reservation
        """The limit slot the job holds for when it comes back (kept on its record while it waits)."""


class BeginFirst(Exception):
    """The first gate call found the job not fresh (or not as its message said) and took nothing: the task must
    begin it from the ledger's record."""


class Aborted(Exception):
    """The job's campaign was aborted before the job's write was sent: it ends ``aborted``."""


class LeaseLost(Exception):
    """The job's lease passed to another delivery (this one was paused or cut off past it): stop, write
    nothing."""


@dataclass(frozen=True)
class ShopLimits:
    """A shop's side of the gate, the same for all its jobs: its limit scopes and circuits."""

    platform: str
    scope: str
    app_scope: str
    limit: Limit
    circuits: tuple[str, ...]

    @classmethod
    def of(cls, platform: str, shop: str, credentials: Mapping[str, Any], limit: Limit) -> ShopLimits:
        return cls(platform, shop_scope(platform, shop, credentials), app_scope(platform, credentials), limit,
                   tuple(Circuits.names_for(platform, shop)))

    def scope_for(self, api: str) -> str:
        return f"{self.scope}:{api}" if self.limit.per_api else self.scope

    def limits_for(self, api: str) -> list[tuple[str, Limit]]:
        limits = [(self.scope_for(api), self.limit)]
        if self.limit.app is not None:
            app = f"{self.app_scope}:{api}" if self.limit.per_api else self.app_scope
            limits.append((app, self.limit.app))
        return limits


class DeliveryGate:
    """One delivery's gate: called with the API name before every platform call; it may sleep briefly or raise
    ``Deferred``, ``Aborted``, ``BeginFirst`` or ``LeaseLost``."""

    def __init__(self, gate: Gate, shop: ShopLimits, job_id: str, lease: Lease, *, short_wait_s: float,
                 pause_recheck_s: float, on_wait: Callable[[float, str], None] | None = None,
                 budget_recheck_s: float = 60.0, reserve: bool = True) -> None:
        self.gate, self.shop, self.job_id, self.lease = gate, shop, job_id, lease
        self.short_wait_s, self.pause_recheck_s, self.on_wait = short_wait_s, pause_recheck_s, on_wait
        self.budget_recheck_s = budget_recheck_s
        self.reserve = reserve
        """A held call reserves its slot (a job, which comes back for it); off for calls that cannot come back."""
        self.mark: WriteMark | None = None
        self.pace: tuple[str, Limit] | None = None
        self.begin: BeginHere | None = None
        self.begun: dict[str, str] | None = None
        """The job's record as the first call found it, lease taken: the task takes it up after the call."""
        self.sent = 0
        """Calls let through since the last ``for_step``."""
        self.probing = False
        self.circuit_touched = False
        """The job's circuits count failures: its good end must reset them."""
        self.write_at: float | None = None
        """When (epoch seconds) this delivery first let a write go."""
        self.reservation: Reservation | None = None
        """The limit slot this job reserved when a limit held it (a short wait here, or its last delivery)."""

    def hold(self, fence: str) -> None:
        """The delivery holds the job's lease under ``fence`` (its first call, or ``Ledger.begin``, took it)."""
        self.begin = None
        self.lease = Lease(self.lease.lease_ms, self.lease.safety_net_ms, fence)

    def begin_here(self, job_json: str) -> None:
        """The first call takes the lease of this fresh job, whose message carried it as ``job_json``."""
        self.begin = BeginHere(job_json)

    def for_step(self, *, write_step: str | None, scopes: Sequence[str] = (),
                 pace: tuple[str, Limit] | None = None, budget: Budget | None = None) -> None:
        """What the next calls are: a write (paused by ``scopes``, marked in flight, counted in the shop's
        ``budget``), paced by a campaign."""
        self.mark = WriteMark(write_step, tuple(scopes), budget) if write_step else None
        self.pace = pace
        self.sent = 0

    def __call__(self, api: str) -> None:
        """Pass, after at most ``short_wait_s`` of sleeping in all, or raise.

        The budget is per call, not per wait: a worker slot is never held long by a busy shop, so the other
        shops' jobs keep their share of the workers.
        """
        limits = self.shop.limits_for(api) + ([self.pace] if self.pace is not None else [])
        mark = self.mark
        if mark is not None and mark.budget is not None and api in BUYER_APIS:  # the buyer's own request
            mark = WriteMark(mark.step, mark.scopes)
        budget_s = self.short_wait_s
        while True:
            verdict = self.gate.check(limits=limits, cooldowns=[self.shop.scope_for(api)], circuits=self.shop.circuits,
                                      job_id=self.job_id, lease=self.lease, mark=mark, begin=self.begin,
                                      reserve=self.reserve, reservation=self.reservation)
            self._take_up(verdict)
            if verdict.allowed:
                self.reservation = None
                self.sent += 1
                if self.mark is not None and self.write_at is None:
                    self.write_at = time.time()
                self.probing = self.probing or verdict.why == "probe"
                return
            if verdict.why == "budget":  # look again soon: an operator may raise the budget or approve more
                raise Deferred(min(verdict.wait_s, self.budget_recheck_s), verdict.why)
            if verdict.wait_s > budget_s:
                raise Deferred(verdict.wait_s, verdict.why, self.reservation)
            budget_s -= verdict.wait_s
            if self.on_wait is not None:
                self.on_wait(verdict.wait_s, verdict.why)
            time.sleep(verdict.wait_s)

    def _take_up(self, verdict: Verdict) -> None:
        """Learn from a verdict what it says of the lease, pauses and circuits; raise where it stops the call."""
        if verdict.fenced:
            raise LeaseLost(f"job {self.job_id}: its lease passed to another delivery")
        if not verdict.allowed:  # a limit's hold returns the slot reserved; any other hold gave it back
            self.reservation = verdict.reservation
        if self.begin is not None:
            if verdict.record is None:
                raise BeginFirst()
            self.begun = verdict.record
            self.hold(verdict.record.get("fence", ""))
        if verdict.paused is not None:
            paused_scope, value = verdict.paused
            if is_abort(value):
                raise Aborted(f"{paused_scope} was aborted")
            raise Deferred(self.pause_recheck_s, f"paused:{paused_scope}")
        self.circuit_touched = self.circuit_touched or verdict.dirty
