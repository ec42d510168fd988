"""The Jobs page: find a job by job id, order id, idempotency key or client reference; its timeline."""

from __future__ import annotations

import json
from typing import Any

from tornado import web

from cancelq.core import keys
from cancelq.jobs.contract import default_idempotency_key
from cancelq.jobs.ledger import JobRecord
from cancelq.ops.console.base import ConsoleHandler

ORDER_SHOPS = 500


class JobFindHandler(ConsoleHandler):
    @web.authenticated
    def get(self) -> None:
        q = self.argument("q")
        found = find(self, q) if q else []
        if len(found) == 1:
            self.redirect(self.reverse_url("cancelq-job", found[0]))
            return
        self.page("cancelq_jobs.html", "cancelq-jobs", q=q, found=found)


class JobHandler(ConsoleHandler):
    @web.authenticated
    def get(self, job_id: str) -> None:
        record = self.console.client.rt.ledger.get(job_id)
        if record is None:
            raise web.HTTPError(404, f"no job {job_id} (finished jobs are kept for ledger_ttl_s)")
        dead = self.console.client.dead_letter(job_id)
        self.page("cancelq_job.html", "cancelq-jobs", record=record, dead=dead, timeline=timeline(record))


class JobStateHandler(ConsoleHandler):
    """The job's state as JSON, for the page's live progress."""

    @web.authenticated
    def get(self, job_id: str) -> None:
        record = self.console.client.rt.ledger.get(job_id)
        if record is None:
            raise web.HTTPError(404, f"no job {job_id}")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"job_id": job_id, "state": record.state, "final": record.final,
                               "attempts": record.attempts, "attribution": record.attribution}))


def find(handler: ConsoleHandler, q: str) -> list[str]:
    """Job ids for a job id, an idempotency key, a client reference or an order id (of a dead letter, or of a job
    on a registered shop under its default idempotency key)."""
    cq = handler.console.client
    ids: list[str] = []
    if cq.rt.ledger.get(q) is not None:
        ids.append(q)
    for found in (cq.find(key=q), cq.find(client_ref=q)):
        if found is not None:
            ids.append(found.job_id)
    ids += [str(e["job_id"]) for e in cq.rt.dead_letters.page(search=q, limit=20).entries]
    ids += by_order_id(handler, q)
    return list(dict.fromkeys(ids))


def by_order_id(handler: ConsoleHandler, order_id: str) -> list[str]:
    """Jobs of this order id on any registered shop, by their default idempotency key (one pipelined GET per
    shop, for the first ``ORDER_SHOPS`` shops)."""
    rt = handler.console.client.rt
    shops = rt.shops.all()[:ORDER_SHOPS]
    if not shops or "/" in order_id:
        return []
    pipe = rt.redis.pipeline(transaction=False)
    for shop in shops:
        pipe.get(keys.idempotency(default_idempotency_key(shop.platform, shop.name, order_id, [])))
    return [str(job_id) for job_id in pipe.execute() if job_id]


def timeline(record: JobRecord) -> list[dict[str, Any]]:
    """Its runs' outcomes, then this run's events, oldest first."""
    earlier = [{"at": h.get("finished_at") or h.get("at"), "event": f"run {i + 1} ended {h.get('state', '?')}",
                "detail": ""} for i, h in enumerate(record.history)]
    events = [{"at": e.get("at"), "event": e.get("event", "?"),
               "detail": ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "event"))}
              for e in record.events]
    return [*earlier, *events]
