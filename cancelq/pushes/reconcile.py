"""Reconciliation: what a lost push would have told, found by reading at a low rate.

A push can be lost (the receiver was down, the platform gave up). Once per ``reconcile_interval_s`` for the whole
fleet (one worker takes ``keys.PUSH_RECONCILE_LOCK``), a round looks at the shops with open jobs waiting long
(a job due sooner reads its order itself) or jobs in the unconfirmed watch, and reads at most
``reconcile_orders_per_shop`` of their orders per shop, each order at most once every ``REREAD_ROUNDS`` rounds,
through the same gate as every call (the shop's limits, cooldowns, circuits). What a read finds is acted on as a
push would be (``Orders.act``, evidence ``reconcile``).

For the round's Shopee apps, Shopee's own list of the pushes it could not deliver comes first
(``v2.push.get_lost_push_message``, ``cancelq.pushes.lost``): those are kept in the pushes stream and handled as
pushes. Shopee shops are also reconciled by status reads like the others, which is all they get while the
platform (or the sandbox) cannot answer the lost-push call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

import structlog

from cancelq.core import keys
from cancelq.gate.delivery import Deferred
from cancelq.jobs.ledger import JobRecord, now_ms
from cancelq.jobs.states import JobState
from cancelq.pushes.lost import LostPushes
from cancelq.pushes.orders import NotNow, Orders
from cancelq.pushes.settle import Evidence
from cancelq.runtime import Runtime

log = structlog.get_logger("cancelq.pushes")

SCAN_LIMIT = 2000
"""Most waiting jobs one round looks at."""
REREAD_ROUNDS = 5
EVIDENCE = Evidence("reconcile")


class Reconciler:
    def __init__(self, rt: Runtime, orders: Orders) -> None:
        self.rt = rt
        self.orders = orders
        self.lost = LostPushes(rt)
        self._not_before = time.monotonic() + rt.settings.reconcile_interval_s
        """A worker that just started leaves the first round to the fleet (or to itself, one interval on)."""

    @property
    def interval_ms(self) -> int:
        return int(self.rt.settings.reconcile_interval_s * 1000)

    def maybe_run(self) -> int:
        """A round, if no worker ran one within the interval; how many orders it read."""
        if time.monotonic() < self._not_before:
            return 0
        if not self.rt.redis.set(keys.PUSH_RECONCILE_LOCK, self.rt.worker_name, nx=True, px=self.interval_ms):
            return 0
        return self.run_round()

    def run_round(self) -> int:
        now = now_ms()
        self.rt.redis.zremrangebyscore(keys.PUSH_RECONCILED, "-inf", now)
        read = 0
        shops = self.by_shop(self.candidates(now))
        self.take_lost(shops)
        for shop, records in shops.items():
            read += self.reconcile_shop(shop, records)
        if read:
            log.info("reconciled", orders=read)
        return read

    def candidates(self, now: int) -> list[str]:
        """Jobs waiting past ``reconcile_min_wait_s`` and watched jobs, not read in the last rounds."""
        min_wait = now + int(self.rt.settings.reconcile_min_wait_s * 1000)
        waiting = self.rt.redis.zrangebyscore(keys.DELAYED, min_wait, "+inf", start=0, num=SCAN_LIMIT)
        ids = list(dict.fromkeys([*map(str, waiting), *self.orders.watch.watched(limit=SCAN_LIMIT)]))
        if not ids:
            return []
        pipe = self.rt.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.zscore(keys.PUSH_RECONCILED, job_id)
        return [job_id for job_id, seen in zip(ids, pipe.execute(), strict=True) if seen is None]

    def by_shop(self, ids: Iterable[str]) -> dict[tuple[str, str], list[JobRecord]]:
        pipe = self.rt.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(keys.job(job_id))
        shops: dict[tuple[str, str], list[JobRecord]] = defaultdict(list)
        for raw in pipe.execute():
            rec = JobRecord.from_hash(raw) if raw else None
            if rec is None or rec.state not in (JobState.WAITING, JobState.SUCCEEDED) or rec.job.get("dry_run"):
                continue
            shops[(str(rec.job.get("platform")), str(rec.job.get("shop")))].append(rec)
        return shops

    def take_lost(self, shops: dict[tuple[str, str], list[JobRecord]]) -> None:
        """Shopee's own list of the pushes it could not deliver, for the round's Shopee apps; a platform that
        cannot answer it leaves the round to its status reads."""
        found = [self.rt.shops.get(platform, name) for platform, name in shops if platform == "shopee"]
        try:
            self.lost.take(shop for shop in found if shop is not None and not shop.needs_reauth)
        except Exception as exc:
            log.info("lost_pushes_unavailable", error=f"{type(exc).__name__}: {str(exc)[:300]}")

    def reconcile_shop(self, shop: tuple[str, str], records: list[JobRecord]) -> int:
        """Read up to ``reconcile_orders_per_shop`` of the shop's orders; stop at the gate's first hold."""
        read = 0
        for rec in records[:self.rt.settings.reconcile_orders_per_shop]:
            order = self.orders.of_record(rec)
            if order is None or order.record is None:
                continue
            try:
                status = self.orders.read(order)
            except (Deferred, NotNow) as exc:
                log.info("reconcile_held", platform=shop[0], shop=shop[1], why=str(exc))
                break
            except Exception as exc:
                log.warning("reconcile_read_failed", platform=shop[0], shop=shop[1], job_id=rec.job_id,
                            error=f"{type(exc).__name__}: {str(exc)[:300]}")
                continue
            self.rt.redis.zadd(keys.PUSH_RECONCILED, {rec.job_id: now_ms() + REREAD_ROUNDS * self.interval_ms})
            self.orders.act(order, status, EVIDENCE)
            read += 1
        return read


__all__ = ["Reconciler"]
