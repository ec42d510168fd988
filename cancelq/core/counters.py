"""Job-side Prometheus counters: what the task loop counts, in the process that runs the job::

    job_finished(platform, outcome, code)          cancelq_jobs_finished_total{platform,outcome,code}
    step_observed(platform, step, seconds, ok)     cancelq_step_duration_seconds{platform,step,result}
    wait_scheduled(platform, error_class, why, counts)
                                                   cancelq_retries_total{platform,error_class} when the wait
                                                   uses up an attempt (a transient failure), else
                                                   cancelq_waits_total{platform,why} (limits, pauses, quota...)
    jobs_submitted(source, result, n)              cancelq_jobs_submitted_total{source,result}
    limiter_wait(platform, seconds, why=...)       cancelq_limiter_wait_seconds{platform,why}
    token_refresh(platform, ok)                    cancelq_token_refreshes_total{platform,result}
    scope_parked(platform, scope)                  cancelq_scopes_parked_total{platform,scope}
    clock_skew(seconds)                            cancelq_clock_skew_seconds (gauge: this worker minus Redis)
    durable_short(write)                           cancelq_durable_wait_short_total{write}
    buyer_request(platform, decision)              cancelq_buyer_requests_total{platform,decision}

and ``cancelq_jobs_running``, a gauge of the jobs in progress (sum it over workers). The fleet's state read
from Redis at scrape time, and the endpoint that serves both, are ``cancelq.ops.metrics``.
"""

from __future__ import annotations

import re

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics

STEP_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
WAIT_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0)

# No *_created series: they double the output and nothing of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

JOBS_FINISHED = Counter("cancelq_jobs_finished", "Jobs that reached an outcome, by platform, outcome and error code",
                        ["platform", "outcome", "code"])
STEP_SECONDS = Histogram("cancelq_step_duration_seconds", "Duration of one platform step (its calls and waits)",
                         ["platform", "step", "result"], buckets=STEP_BUCKETS_S)
RETRIES = Counter("cancelq_retries", "Transient failures that used up an attempt and sent the job to try again",
                  ["platform", "error_class"])
WAITS = Counter("cancelq_waits", "Jobs sent to wait without using up an attempt: the gate (rate_limit, cooldown, "
                "circuit_open, paused, budget), a platform's limit (rate_limited, quota_exhausted), needs_reauth, ...",
                ["platform", "why"])
JOBS_SUBMITTED = Counter("cancelq_jobs_submitted", "Jobs handed to intake in this process, by the job's source and "
                         "what intake did (created, duplicate, rejected)", ["source", "result"])
LIMITER_WAIT_SECONDS = Histogram("cancelq_limiter_wait_seconds", "Time a call was held by the fleet-wide gate",
                                 ["platform", "why"], buckets=WAIT_BUCKETS_S)
JOBS_RUNNING = Gauge("cancelq_jobs_running", "Jobs this worker is running now (sum over workers)",
                     multiprocess_mode="livesum")
__all__ = [
    "JOBS_RUNNING",
    "REGISTRY",
    "buyer_request",
    "clock_skew",
    "durable_short",
    "job_finished",
    "jobs_submitted",
    "limiter_wait",
    "scope_parked",
    "step_observed",
    "token_refresh",
    "wait_scheduled",
]

SCOPES_PARKED = Counter("cancelq_scopes_parked", "Configuration faults that parked a scope (one per fault)",
                        ["platform", "scope"])
CLOCK_SKEW = Gauge("cancelq_clock_skew_seconds", "This worker's clock minus the Redis server's, at the last beat",
                   multiprocess_mode="max")
DURABLE_SHORT = Counter("cancelq_durable_wait_short", "Writes fewer replicas than durable_replicas acknowledged "
                        "within durable_timeout_ms (inflight, final)", ["write"])
BUYER_REQUESTS = Counter("cancelq_buyer_requests", "Buyers' cancel requests read, by what the shop's policy made "
                         "of them (accept, notify, ignore, duplicate, not_pending)", ["platform", "decision"])
TOKEN_REFRESHES = Counter("cancelq_token_refreshes", "Access-token refreshes, by result", ["platform", "result"])

_MAX_LABEL = 64
_FIRST_WORD = re.compile(r"[:\s]")


def _label(value: object, default: str = "none") -> str:
    text = str(value).strip() if value is not None else ""
    return text[:_MAX_LABEL] if text else default


def _kind(why: object) -> str:
    """The kind of a reason, without what follows it (``paused:shop:shopee/x`` -> ``paused``): bounded labels."""
    return _label(_FIRST_WORD.split(str(why or "").strip(), maxsplit=1)[0])


def job_finished(platform: str, outcome: str, code: str | None = None) -> None:
    """A job reached ``outcome`` (succeeded, already_cancelled, dead, rejected); ``code``: the platform error code,
    empty when there is none (Prometheus reads an empty label as an absent one)."""
    JOBS_FINISHED.labels(_label(platform), _label(outcome), _label(code, "")).inc()


def step_observed(platform: str, step: str, seconds: float, ok: bool) -> None:
    """One step ran for ``seconds``; ``ok`` False when it ended in an error."""
    STEP_SECONDS.labels(_label(platform), _label(step), "ok" if ok else "error").observe(max(0.0, seconds))


def wait_scheduled(platform: str, error_class: str | None, why: str, counts: bool) -> None:
    """A job was sent to wait: a retry when the wait ``counts`` as an attempt, else a wait (``why``: rate_limit,
    paused:..., quota_exhausted, ...)."""
    if counts:
        RETRIES.labels(_label(platform), _label(error_class, "unknown")).inc()
    else:
        WAITS.labels(_label(platform), _kind(why)).inc()


def jobs_submitted(source: str | None, result: str, n: int = 1) -> None:
    """``n`` jobs went through intake here (``result``: created, duplicate or rejected)."""
    if n:
        JOBS_SUBMITTED.labels(_label(source, "unspecified"), result).inc(n)


def limiter_wait(platform: str, seconds: float, why: str = "rate_limit") -> None:
    """The gate held a call for ``seconds`` (slept in the worker, or deferred to the delayed set)."""
    LIMITER_WAIT_SECONDS.labels(_label(platform), _kind(why)).observe(max(0.0, seconds))


def token_refresh(platform: str, ok: bool) -> None:
    """An access-token refresh was tried; ``ok`` False when the shop still has no working token."""
    TOKEN_REFRESHES.labels(_label(platform), "ok" if ok else "failed").inc()




def buyer_request(platform: str, decision: str) -> None:
    """A buyer's request to cancel was handled: accepted, announced, ignored, seen before, or no longer pending."""
    BUYER_REQUESTS.labels(_label(platform), _label(decision)).inc()


def scope_parked(platform: str, scope: str) -> None:
    """A configuration fault parked a scope (app, shop): counted once per fault, by the delivery that parked it."""
    SCOPES_PARKED.labels(_label(platform), _label(scope)).inc()


def clock_skew(seconds: float) -> None:
    """This worker's clock minus the Redis server's, as its heartbeat last measured it."""
    CLOCK_SKEW.set(seconds)


def durable_short(write: str) -> None:
    """A WAIT after a write (``inflight`` mark, ``final`` outcome) answered fewer replicas than asked."""
    DURABLE_SHORT.labels(_label(write)).inc()
