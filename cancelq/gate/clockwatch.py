"""A worker's clock watch: measure its skew against Redis's ``TIME`` and tell of a change once.

Run with the worker's heartbeat (every 10 s, and before the worker first says it is alive), never on a job's
path: one ``TIME`` call per beat. A platform held or released (``core/clock.py``) appends ``scope.parked`` or
``scope.lifted`` (scope ``clock``, with the worker's name) and logs one line; the skew is a gauge.
"""

from __future__ import annotations

import redis
import structlog

from cancelq.core import counters
from cancelq.core.clock import Change, WorkerClock
from cancelq.jobs import events

log = structlog.get_logger("cancelq.clock")


def check(client: redis.Redis, clock: WorkerClock, worker: str) -> Change:
    """Measure, and tell of what changed (an event and a log line per change, a gauge always)."""
    sent_at = clock.now()
    answer = client.time()
    change = clock.measure((int(answer[0]), int(answer[1])), sent_at, clock.now())
    counters.clock_skew(change.skew_s)
    if change.held or change.released:
        pipe = client.pipeline(transaction=True)
        for kind, platforms in (("scope.parked", change.held), ("scope.lifted", change.released)):
            for platform in platforms:
                events.add(pipe, kind, {"scope": "clock", "platform": platform, "shops": [], "worker": worker,
                                        "code": "clock_skew", "message": change.reason,
                                        "skew_s": round(change.skew_s, 1),
                                        "action": "fix this host's time (NTP); the worker resumes by itself"})
        pipe.execute()
    if change.held:
        log.warning("clock_skewed", skew_s=round(change.skew_s, 1), holds=list(change.held), why=change.reason)
    elif change.released:
        log.info("clock_recovered", skew_s=round(change.skew_s, 1), releases=list(change.released))
    elif change.warning_started:
        log.warning("clock_skew_warning", skew_s=round(change.skew_s, 1), why=change.reason)
    return change


def refused(client: redis.Redis, clock: WorkerClock, worker: str, platform: str, message: str) -> None:
    """A platform refused this worker's timestamp: hold the platform here, and alert once."""
    if not clock.refused(platform, message):
        return
    events.add(client, "scope.parked", {"scope": "clock", "platform": platform, "shops": [], "worker": worker,
                                        "code": "timestamp_refused", "message": message[:300],
                                        "action": "fix this host's time (NTP); jobs try again after a while"})
    log.warning("clock_refused", platform=platform, why=message[:300])
