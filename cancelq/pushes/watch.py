"""The unconfirmed watch: jobs we cancelled whose order still reads as not cancelled (Shopee IN_CANCEL, a Lazada
reverse order not yet CANCEL_SUCCESS), watched until the platform confirms.

A job joins the watch (``keys.PUSH_WATCH``, scored by its deadline: its outcome's time plus ``verify_within_s``)
when a push or a reconciliation read finds its order not cancelled after our cancel. A later read that finds it
cancelled takes it out (confirmed); past the deadline the sweep reads it once more and, if it is still not
cancelled, announces ``cancel.unconfirmed`` in the script that moves it to ``keys.PUSH_UNCONFIRMED`` (what
``cancelq status`` and the console's Shops page list): once, whichever worker gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.jobs import events
from cancelq.jobs.ledger import JobRecord, Ledger, now_ms
from cancelq.platforms.base import OrderStatus

UNCONFIRMED_KEPT_S = 7 * 86400
"""How long an announced job stays listed as unconfirmed (unless a read confirms it sooner)."""


@dataclass(frozen=True)
class Unconfirmed:
    job_id: str
    at_ms: int


class Watch:
    def __init__(self, client: redis.Redis, *, verify_within_s: float) -> None:
        self.r = client
        self.verify_within_s = verify_within_s
        self._announce = register(client, "cancelq.pushes", "unconfirmed")

    def add(self, rec: JobRecord) -> bool:
        """Watch the job until its deadline (from its outcome's time); False when it was watched or listed
        already."""
        if self.r.zscore(keys.PUSH_UNCONFIRMED, rec.job_id) is not None:
            return False
        deadline = (rec.finished_at or now_ms()) + int(self.verify_within_s * 1000)
        return bool(self.r.zadd(keys.PUSH_WATCH, {rec.job_id: deadline}, nx=True))

    def confirm(self, job_id: str) -> bool:
        """The platform confirmed the cancel: the job leaves the watch (and the unconfirmed list)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrem(keys.PUSH_WATCH, job_id)
        pipe.zrem(keys.PUSH_UNCONFIRMED, job_id)
        return any(int(n) for n in pipe.execute())

    def due(self, *, limit: int = 100) -> list[str]:
        """Watched jobs past their deadline."""
        return [str(j) for j in self.r.zrangebyscore(keys.PUSH_WATCH, "-inf", now_ms(), start=0, num=limit)]

    def watched(self, *, limit: int = 1000) -> list[str]:
        return [str(j) for j in self.r.zrange(keys.PUSH_WATCH, 0, limit - 1)]

    def announce(self, rec: JobRecord, status: OrderStatus) -> bool:
        """``cancel.unconfirmed`` for a watched job past its deadline, once; False when another worker did, or
        it was confirmed meanwhile."""
        data = events.job_data(rec.job, rec.job_id, attempts=rec.attempts, order_status=status.raw_status,
                               verify_within_s=self.verify_within_s, read_request_id=status.request_id)
        data.pop("reply", None)  # a Celery reply tells of an outcome: this is none
        entry = events.entry_args("cancel.unconfirmed", data)
        now = now_ms()
        told = bool(int(self._announce(keys=[keys.PUSH_WATCH, keys.PUSH_UNCONFIRMED, keys.EVENTS],
                                       args=[rec.job_id, now, *entry])))
        self.r.zremrangebyscore(keys.PUSH_UNCONFIRMED, "-inf", now - UNCONFIRMED_KEPT_S * 1000)
        return told

    def drop(self, job_id: str) -> None:
        """A watched job whose record is gone."""
        self.r.zrem(keys.PUSH_WATCH, job_id)

    def unconfirmed(self, *, limit: int = 100) -> list[Unconfirmed]:
        """The jobs announced unconfirmed, newest first."""
        found: Any = self.r.zrevrange(keys.PUSH_UNCONFIRMED, 0, limit - 1, withscores=True)
        return [Unconfirmed(str(j), int(at)) for j, at in found]

    def described(self, ledger: Ledger, *, limit: int = 20) -> list[dict[str, Any]]:
        """The unconfirmed jobs with their orders, newest first: what ``cancelq status`` and the console list."""
        found = []
        for item in self.unconfirmed(limit=limit):
            record = ledger.get(item.job_id)
            job = record.job if record is not None else {}
            found.append({"job_id": item.job_id, "at_ms": item.at_ms, "platform": job.get("platform", ""),
                          "shop": job.get("shop", ""), "order_id": job.get("order_id", ""),
                          "finished_at": record.finished_at if record is not None else None})
        return found

    def counts(self) -> dict[str, int]:
        return {"watched": int(self.r.zcard(keys.PUSH_WATCH)), "unconfirmed": int(self.r.zcard(keys.PUSH_UNCONFIRMED))}


__all__ = ["Unconfirmed", "Watch"]
