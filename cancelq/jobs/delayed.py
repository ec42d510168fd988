"""Durable waits: the delayed set and the pump that sends due jobs back to the queue.

Celery countdowns on a Redis broker live in the worker's memory and come back
through the visibility timeout, so a long wait could run twice or vanish with
the process. cancelq never uses them: a waiting job is a member of a sorted set
scored by its due time, and each worker runs a small pump that claims due jobs
atomically and publishes them. A claim is itself a lease: if the pump dies
between claiming and publishing, or the message is lost before a worker begins
the job, the claim expires and a pump sends the job again. The same script
hands back the jobs of runners whose lease expired (a worker killed mid-job),
so they are taken over without waiting for the broker's visibility timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.jobs.ledger import now_ms
from cancelq.jobs.states import lua_preamble


class Delayed:
    def __init__(self, client: redis.Redis, *, claim_ms: int = 30_000) -> None:
        self.r = client
        self.claim_ms = claim_ms
        self._claim = register(client, "cancelq.jobs", "claim", preamble=lua_preamble())

    def schedule(self, job_id: str, due_ms: int) -> None:
        self.r.zadd(keys.DELAYED, {job_id: due_ms})

    def claim_due(self, limit: int = 500) -> list[str]:
        """Claim what is due (``lua/claim.lua``). A running job's timer (its safety net) is moved to its lease's
        expiry, read from the job; a job that is final or gone loses its timer; the rest (a wait come due, a
        queued job's safety net, an expired lease) are claimed and sent. The candidates are read first, so that the
        script gets each job's key in KEYS."""
        now = now_ms()
        pipe = self.r.pipeline(transaction=False)
        pipe.zrangebyscore(keys.CLAIMED, "-inf", now, start=0, num=limit)
        pipe.zrangebyscore(keys.DELAYED, "-inf", now, start=0, num=limit)
        stale, due = pipe.execute()
        candidates = [str(i) for i in dict.fromkeys([*stale, *due])]
        if not candidates:
            return []
        result = self._claim(keys=[keys.DELAYED, keys.CLAIMED, *(keys.job(i) for i in candidates)],
                             args=[now, limit, self.claim_ms, *candidates])
        return [str(i) for i in result]


class Pump(threading.Thread):
    """Moves due jobs from the delayed set to the broker, every ``interval_s``."""

    def __init__(self, delayed: Delayed, publish: Callable[[str], None], *, interval_s: float = 0.2,
                 batch: int = 500, on_error: Callable[[Exception], None] | None = None,
                 heartbeat: Callable[[], None] | None = None, heartbeat_s: float = 10.0) -> None:
        super().__init__(name="cancelq-pump", daemon=True)
        self.delayed = delayed
        self.publish = publish
        self.interval_s = interval_s
        self.batch = batch
        self.on_error = on_error
        self.heartbeat = heartbeat
        self.heartbeat_s = heartbeat_s
        self._beat_at = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._beat()
                sent = self.pump_once()
            except Exception as exc:  # the pump must outlive a Redis or broker hiccup
                sent = 0
                if self.on_error is not None:
                    self.on_error(exc)
            if sent < self.batch:
                self.stopping.wait(self.interval_s)

    def _beat(self) -> None:
        if self.heartbeat is not None and time.monotonic() - self._beat_at >= self.heartbeat_s:
            self.heartbeat()
            self._beat_at = time.monotonic()

    def pump_once(self) -> int:
        """Publish the due jobs; their claims stay until ``Ledger.begin`` sees the job (or expire: sent again)."""
        due = self.delayed.claim_due(self.batch)
        for job_id in due:
            self.publish(job_id)
        return len(due)

    def stop(self) -> None:
        self.stopping.set()
