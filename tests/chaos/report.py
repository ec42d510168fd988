"""What a chaos run did, counted from the ledger (Redis job hashes) and from the sandbox's own counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cancelq.campaigns.store import store
from cancelq.core import keys
from cancelq.jobs.ledger import JobRecord
from cancelq.jobs.states import FINAL_STATES, STATES
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient, is_cancelled

from . import attribution, outbox
from .hooks import HookWatch
from .pauses import Pause
from .pushes import PushLog
from .watch import FinalityWatch, crashes, log_events
from .world import INVALID_SOURCE, Order

CANCELLED_STATES = frozenset({"succeeded", "already_cancelled"})
SHOWN = 8
"""How many examples a failure line lists."""


@dataclass
class ChaosLog:
    """What the driver did to the system, for the table and for the test's "the chaos happened" checks."""

    kills: int = 0
    redis_restarts: int = 0
    redis_down_s: float = 0.0
    outage_platform: str = ""
    outage_s: float = 0.0
    outage_hits: int = 0
    expired: list[tuple[str, str]] = field(default_factory=list)
    """(platform, shop ref) whose access token the sandbox expired mid-run."""
    ships: int = 0
    bursts: int = 0
    lease_s: float = 0.0
    pauses: list[Pause] = field(default_factory=list)
    """Workers SIGSTOPped past their lease, then SIGCONTed."""
    pauses_skipped: int = 0
    hooks_missing: list[str] = field(default_factory=list)
    """Outcome events the chaos run's webhook endpoint never received (by event id)."""
    revived: int = 0
    """Workers found exited of themselves and started again (a crash: see ``Report.worker_crashes``)."""
    campaigns: list[str] = field(default_factory=list)
    campaign_invalid_expected: int = 0
    campaign_invalid_seen: int = 0
    singles: int = 0
    wire: int = 0
    duplicates: int = 0
    duplicates_created: int = 0
    """Duplicate submissions that created a job or sent one: each is a failure."""
    invalid_submitted: int = 0
    pushes: PushLog = field(default_factory=PushLog)
    submit_s: float = 0.0
    drain_s: float = 0.0
    elapsed_s: float = 0.0


@dataclass
class Report:
    log: ChaosLog
    rows: list[list[str]]
    submitted: int
    final: int
    unfinished: list[str]
    cancelled_twice: list[str]
    ledger_only: list[str]
    platform_only: list[str]
    decoys_touched: list[str]
    attribution_wrong: list[str]
    """Cancelled outcomes (or their attribution) that contradict the sandbox's count of our cancels."""
    attributions: Counter[str]
    """Cancelled outcomes by ``state/attribution``."""
    finality_changed: list[str]
    """Jobs whose final outcome changed after the watch first saw it final."""
    outbox_off: list[str]
    """Final jobs without exactly one outcome event per run (or the reverse), and secrets in events."""
    events_checked: int
    hooks_off: list[str]
    """Outcome events the webhook endpoint never got, bad signatures, and secrets in what it was sent."""
    hooks_received: int
    finals_watched: int
    watch_polls: tuple[int, int, float]
    """(polls made, polls a Redis restart made fail, mean milliseconds a poll took)."""
    lease_lost: Counter[str]
    """``lease_lost`` log lines by worker log (deliveries that learnt they were fenced)."""
    pause_caught: list[str]
    """Jobs whose write was in flight in a paused worker, and which that worker then found fenced."""
    worker_crashes: list[str]
    """Workers that exited of themselves (not killed by the run): shown, not a broken promise of the ledger."""
    dead: int
    dead_letters: Counter[str]
    dead_not_permanent: list[str]
    dead_unexplained: list[str]
    dead_letters_unmatched: list[str]
    rejected: int
    rejected_valid: list[str]
    campaigns_off: list[str]
    """Campaigns not finished, or whose live counters differ from their jobs' states in the ledger."""
    refreshes: dict[str, int]
    needs_reauth: list[str]
    faults_hit: Counter[str]
    retried: int
    redelivered: int
    max_deliveries: int
    slowest: tuple[float, str]
    """The longest a job took beyond its own stated waits (seconds, job): kills and lost messages show here."""

    def failures(self) -> list[str]:
        """Every broken promise, one line each (empty: the run is sound)."""
        checks = [
            (self.unfinished, "jobs not final (lost or stuck)"),
            (self.cancelled_twice, "orders cancelled more than once"),
            (self.ledger_only, "cancelled per the ledger but not on the platform"),
            (self.platform_only, "cancelled on the platform but not succeeded/already_cancelled in the ledger"),
            (self.dead_not_permanent, "dead letters without a permanent cause"),
            (self.dead_unexplained, "dead jobs whose order never shipped"),
            (self.dead_letters_unmatched, "dead jobs and dead-letter entries that do not match"),
            (self.rejected_valid, "valid jobs rejected"),
            (self.decoys_touched, "orders without a job that were called"),
            (self.attribution_wrong, "cancelled outcomes whose attribution contradicts the sandbox's count of "
                                     "our cancels"),
            (self.finality_changed, "final outcomes that changed afterwards"),
            (self.outbox_off, "jobs whose outcome events disagree with the ledger (or events holding a secret)"),
            (self.hooks_off, "outcome events the webhook endpoint never received (or bad signatures, or secrets)"),
            (self.needs_reauth, "shops parked for re-authorisation"),
            (self.campaigns_off, "campaigns unfinished or counting differently from the ledger"),
        ]
        out = [f"{len(items)} {what}: {', '.join(items[:SHOWN])}" for items, what in checks if items]
        if self.rejected != self.log.invalid_submitted:
            out.append(f"rejected {self.rejected} jobs, {self.log.invalid_submitted} invalid ones were submitted")
        if self.log.campaign_invalid_seen != self.log.campaign_invalid_expected:
            out.append(f"campaign invalid rows: {self.log.campaign_invalid_seen}, "
                       f"expected {self.log.campaign_invalid_expected}")
        if self.log.duplicates_created:
            out.append(f"{self.log.duplicates_created} duplicate submissions created or sent a job")
        unrefreshed = [shop for shop, n in self.refreshes.items() if n < 1]
        if unrefreshed:
            out.append(f"expired tokens never refreshed: {', '.join(unrefreshed)}")
        return out

    def table(self) -> str:
        outcome = _table(["platform", "orders", "succeeded", "already_cancelled", "dead", "rejected", "unfinished",
                          "cancelled (platform)", "cancelled (ledger)", "mismatched", "cancelled twice"], self.rows)
        checks = _table(["check", "count", "ok"], self._checks())
        chaos = _table(["chaos", "done"], self._chaos())
        return f"{outcome}\n\n{checks}\n\n{chaos}"

    def _checks(self) -> list[list[str]]:
        log = self.log
        return [
            ["jobs submitted / final", f"{self.submitted} / {self.final}", _ok(self.submitted == self.final)],
            ["orders cancelled twice (sandbox)", str(len(self.cancelled_twice)), _ok(not self.cancelled_twice)],
            ["ledger vs platform mismatches", f"{len(self.ledger_only)} ledger only, {len(self.platform_only)} "
             "platform only", _ok(not (self.ledger_only or self.platform_only))],
            ["dead letters (by kind)", _counts(self.dead_letters) or "0", _ok(not self.dead_not_permanent)],
            ["dead jobs / dead letters", f"{self.dead} / {sum(self.dead_letters.values())}",
             _ok(not self.dead_letters_unmatched)],
            ["dead on an order that never shipped", str(len(self.dead_unexplained)), _ok(not self.dead_unexplained)],
            ["rejected / invalid submitted", f"{self.rejected} / {log.invalid_submitted}",
             _ok(self.rejected == log.invalid_submitted and not self.rejected_valid)],
            ["campaign invalid rows / expected", f"{log.campaign_invalid_seen} / {log.campaign_invalid_expected}",
             _ok(log.campaign_invalid_seen == log.campaign_invalid_expected)],
            ["duplicates submitted / sent again", f"{log.duplicates} / {log.duplicates_created}",
             _ok(not log.duplicates_created)],
            ["campaigns finished, counters = ledger", f"{len(log.campaigns) - len(self.campaigns_off)} / "
             f"{len(log.campaigns)}", _ok(not self.campaigns_off)],
            ["decoy orders called", str(len(self.decoys_touched)), _ok(not self.decoys_touched)],
            ["attribution vs the sandbox's cancels applied", f"{len(self.attribution_wrong)} contradict ("
             f"{_counts(self.attributions)})", _ok(not self.attribution_wrong)],
            ["final outcomes unchanged (watched)", f"{len(self.finality_changed)} changed, {self.finals_watched} "
             f"watched ({self.watch_polls[0]} polls of {self.watch_polls[2]:.0f} ms, {self.watch_polls[1]} failed)",
             _ok(not self.finality_changed)],
            ["one outcome event per run of each final job", f"{len(self.outbox_off)} off, {self.events_checked} jobs "
             "checked, no secret in any event", _ok(not self.outbox_off)],
            ["webhook endpoint: every outcome event received, signed", f"{self.hooks_received} received, "
             f"{len(self.hooks_off)} off", _ok(not self.hooks_off)],
            ["token refreshes after expiry", _counts(Counter(self.refreshes)) or "none expired",
             _ok(all(n >= 1 for n in self.refreshes.values()) and not self.needs_reauth)],
        ]

    def _chaos(self) -> list[list[str]]:
        log = self.log
        return [
            ["elapsed", f"{log.elapsed_s:.1f}s (submitting {log.submit_s:.1f}s, draining {log.drain_s:.1f}s)"],
            ["submitted", f"{len(log.campaigns)} campaigns, {log.singles} single jobs, {log.wire} from a "
                          f"foreign Celery client"],
            ["worker SIGKILLs (each restarted)", str(log.kills)],
            ["Redis restarts (AOF on)", f"{log.redis_restarts} (down {log.redis_down_s:.1f}s)"],
            ["platform outage", f"{log.outage_platform} {log.outage_s:.1f}s, {log.outage_hits} calls refused"],
            ["tokens expired", ", ".join(f"{p}/{r}" for p, r in log.expired) or "none"],
            ["orders shipped mid-run (control API)", str(log.ships)],
            ["429/ban bursts", str(log.bursts)],
            ["platform pushes (fed as the receiver keeps them)", log.pushes.summary()],
            ["  jobs ended by the push processor (by evidence)", _counts(log.pushes.ended) or "0"],
            ["worker pauses past the lease (SIGSTOP)", _pauses(log)],
            ["  jobs with a write in flight at the stops (any worker) / fenced in the paused worker",
             f"{sum(len(p.inflight) for p in log.pauses)} / {len(self.pause_caught)}"],
            ["lease_lost lines (fenced deliveries)", f"{sum(self.lease_lost.values())} ({_counts(self.lease_lost)})"
             if self.lease_lost else "0"],
            ["workers that exited of themselves / started again", f"{len(self.worker_crashes)} / {log.revived}"],
            *(["", line] for line in self.worker_crashes[:SHOWN]),
            ["jobs retried", str(self.retried)],
            ["jobs run again without a wait (taken over) / most runs", f"{self.redelivered} / {self.max_deliveries}"],
            ["longest time a job spent beyond its own waits", f"{self.slowest[0]:.1f}s ({self.slowest[1]})"],
            ["faults hit (scripted, all kinds)", str(sum(self.faults_hit.values()))],
            *([f"  {name}", str(n)] for name, n in sorted(self.faults_hit.items())),
        ]


def collect(rt: Runtime, sandbox: SandboxClient, orders: list[Order], job_ids: dict[tuple[str, str], str],
            log: ChaosLog, *, watch: FinalityWatch, worker_logs: list[Path], hooks: HookWatch) -> Report:
    """Count the run's outcome. ``job_ids`` maps each submitted order to its job (absent: never recorded)."""
    records = _records(rt, list(job_ids.values()))
    views = {(o["platform"], o["order_id"]): o for o in sandbox.orders()}
    stats = sandbox.stats()
    submitted = [o for o in orders if not o.decoy]
    by_order = {o.key: records.get(job_ids.get(o.key, "")) for o in submitted}
    ledger_cancelled = {k for k, r in by_order.items() if r is not None and r.state in CANCELLED_STATES}
    platform_cancelled = {o.key for o in submitted if is_cancelled(views[o.key])}
    dead = {k: r for k, r in by_order.items() if r is not None and r.state == "dead"}
    dlq = list(rt.dead_letters.iter())
    rejected = _records(rt, [str(i) for i in rt.redis.zrange(keys.REJECTED, 0, -1)])
    wrong, attributions = attribution.check(submitted, by_order, views)
    secrets = [str(v) for s in rt.shops.all() for k, v in s.credentials.items() if isinstance(v, str)
               and any(w in k.lower() for w in ("secret", "token", "key"))]
    outbox_off = outbox.check(rt.redis, {**records, **rejected}, secrets)
    hooks_off = [f"event {i}" for i in log.hooks_missing] + hooks.leaked(secrets)
    hooks_off += [f"{hooks.bad} deliveries with a bad signature"] if hooks.bad else []
    return Report(
        log=log,
        rows=_rows(submitted, by_order, views, stats["cancelled_twice"], ledger_cancelled ^ platform_cancelled),
        submitted=len(submitted),
        final=sum(1 for r in by_order.values() if r is not None and r.final),
        unfinished=[f"{o.platform}/{o.order_id}={_where(r)}" for o in submitted
                    if (r := by_order[o.key]) is None or not r.final],
        cancelled_twice=list(stats["cancelled_twice"]),
        ledger_only=_names(ledger_cancelled - platform_cancelled, by_order),
        platform_only=_names(platform_cancelled - ledger_cancelled, by_order),
        decoys_touched=[f"{o.platform}/{o.order_id}" for o in orders if o.decoy and _called(views[o.key])],
        attribution_wrong=wrong,
        attributions=attributions,
        outbox_off=outbox_off,
        events_checked=len(records) + len(rejected),
        hooks_off=hooks_off,
        hooks_received=len(hooks.ids),
        **_fence_figures(log, watch, worker_logs),
        dead=len(dead),
        dead_letters=Counter(str(e.get("kind")) for e in dlq),
        dead_not_permanent=[f"{e['job_id']}({e.get('kind')}:{(e.get('error') or {}).get('code')})" for e in dlq
                            if e.get("kind") != "permanent"],
        dead_unexplained=[f"{k[0]}/{k[1]}={r.job_id}" for k, r in dead.items()
                          if not _shipped(views[k]) and _seeded(orders, k) != "shipped"],
        dead_letters_unmatched=sorted({r.job_id for r in dead.values()} ^ {str(e["job_id"]) for e in dlq}),
        rejected=len(rejected),
        rejected_valid=[f"{r.job_id}({r.reject_reason[:60]})" for r in rejected.values()
                        if r.job.get("source") != INVALID_SOURCE],
        campaigns_off=[off for cid in log.campaigns if (off := _campaign_off(rt, cid))],
        refreshes={f"{p}/{ref}": int(sandbox.shop(p, ref)["refreshes"]) for p, ref in log.expired},
        needs_reauth=[f"{s.platform}/{s.name}" for s in rt.shops.all() if s.needs_reauth],
        faults_hit=_fault_hits(stats["faults_pending"]),
        retried=sum(1 for r in records.values() if r.attempts > 0),
        redelivered=sum(1 for r in records.values() if r.deliveries > 1),
        max_deliveries=max((r.deliveries for r in records.values()), default=0),
        slowest=max((_beyond_waits(r) for r in records.values() if r.finished_at), default=(0.0, "")),
    )


def _fence_figures(log: ChaosLog, watch: FinalityWatch, worker_logs: list[Path]) -> dict[str, Any]:
    """What the watch saw of the final outcomes, and what the workers' logs say of the fence and of crashes."""
    fenced = log_events(worker_logs, "lease_lost")
    return {
        "finality_changed": watch.changed(),
        "finals_watched": len(watch.first),
        "watch_polls": (watch.polls, watch.failed_polls, watch.mean_poll_ms),
        "lease_lost": Counter(e.log.stem for e in fenced),
        "worker_crashes": crashes(worker_logs),
        "pause_caught": sorted({e.job_id for p in log.pauses for e in fenced
                                if e.log == p.log and e.at_s >= p.stopped_at and e.job_id in p.inflight}),
    }


def _records(rt: Runtime, ids: list[str]) -> dict[str, JobRecord]:
    pipe = rt.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hgetall(keys.job(job_id))
    return {job_id: JobRecord.from_hash(h) for job_id, h in zip(ids, pipe.execute(), strict=True) if h}


def _rows(orders: list[Order], by_order: dict[tuple[str, str], JobRecord | None], views: dict[Any, Any],
          twice: list[str], mismatched: set[tuple[str, str]]) -> list[list[str]]:
    rows = []
    for platform in [*sorted({o.platform for o in orders}), "all"]:
        mine = [o for o in orders if platform in ("all", o.platform)]
        states = Counter(r.state if r is not None else "missing" for r in (by_order[o.key] for o in mine))
        unfinished = sum(n for s, n in states.items() if s not in FINAL_STATES)
        rows.append([platform, str(len(mine)), *(str(states[s]) for s in ("succeeded", "already_cancelled", "dead",
                                                                          "rejected")),
                     str(unfinished), str(sum(1 for o in mine if is_cancelled(views[o.key]))),
                     str(sum(states[s] for s in CANCELLED_STATES)), str(sum(1 for o in mine if o.key in mismatched)),
                     str(sum(1 for t in twice if platform in ("all", t.split("/")[0])))])
    return rows


def _campaign_off(rt: Runtime, campaign_id: str) -> str:
    """Empty when the campaign finished and its counters hold its jobs' ledger states, else what differs."""
    campaign = store(rt).get(campaign_id)
    ids = [str(i) for i in rt.redis.hkeys(keys.campaign_states(campaign_id))]
    actual = Counter(r.state for r in _records(rt, ids).values())
    off = {s: f"{campaign.counts.get(s, 0)}!={actual[s]}" for s in STATES
           if s in campaign.counts and campaign.counts.get(s, 0) != actual[s]}
    if campaign.finished and not off:
        return ""
    return f"{campaign_id}({campaign.status}{', ' if off else ''}{', '.join(f'{k} {v}' for k, v in off.items())})"


def _beyond_waits(record: JobRecord) -> tuple[float, str]:
    waited_s = sum(float(e.get("delay_s") or 0) for e in record.events if e.get("event") == "retry")
    return ((record.finished_at or 0) - record.created_at) / 1000 - waited_s, record.job_id


def _names(keys_: set[tuple[str, str]], by_order: dict[tuple[str, str], JobRecord | None]) -> list[str]:
    return [f"{p}/{o}={_where(by_order[(p, o)])}" for p, o in sorted(keys_)]


def _where(record: JobRecord | None) -> str:
    if record is None:
        return "no record"
    return f"{record.job_id}:{record.state}" + (f"({record.dead_kind})" if record.dead_kind else "")


def _shipped(view: dict[str, Any]) -> bool:
    return "shipped" in view.get("history", [])


def _seeded(orders: list[Order], key: tuple[str, str]) -> str:
    return next(o.state for o in orders if o.key == key)


def _called(view: dict[str, Any]) -> bool:
    return bool(view["calls"]) or bool(view["cancels_applied"])


def _fault_hits(pending: list[dict[str, Any]]) -> Counter[str]:
    hits: Counter[str] = Counter()
    for fault in pending:
        label = fault.get("code") or fault.get("http_status") or ""
        where = f"{fault.get('endpoint') or 'any'}{' after the write' if fault.get('after_write') else ''}"
        hits[f"{fault['platform']} {fault['kind']} {label} on {where}".replace("  ", " ")] += int(fault["hits"])
    return Counter({k: v for k, v in hits.items() if v})


def _pauses(log: ChaosLog) -> str:
    if not log.pauses:
        return f"none ({log.pauses_skipped} skipped)" if log.pauses_skipped else "none"
    lengths = [p.length_s for p in log.pauses]
    return (f"{len(log.pauses)} ({min(lengths):.1f}-{max(lengths):.1f}s, lease {log.lease_s:g}s; "
            f"{sum(p.slowed_writes for p in log.pauses)} writes slowed around the stops"
            + (f"; {log.pauses_skipped} skipped)" if log.pauses_skipped else ")"))


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items()))


def _ok(good: bool) -> str:
    return "ok" if good else "FAIL"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [headers, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)

