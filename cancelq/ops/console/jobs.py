"""The Jobs page: find a job by job id, order id, idempotency key or client reference; its timeline."""

from __future__ import annotations

import json
from typing import Any

from tornado import web

from cancelq.jobs.ledger import JobRecord
from cancelq.ops.console.base import ConsoleHandler


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
    """Job ids for a job id, an idempotency key, a client reference or (among dead letters) an order id."""
    cq = handler.console.client
    ids: list[str] = []
    if cq.rt.ledger.get(q) is not None:
        ids.append(q)
    for found in (cq.find(key=q), cq.find(client_ref=q)):
        if found is not None:
            ids.append(found.job_id)
    ids += [str(e["job_id"]) for e in cq.rt.dead_letters.page(search=q, limit=20).entries]
    return list(dict.fromkeys(ids))


def timeline(record: JobRecord) -> list[dict[str, Any]]:
    """Its runs' outcomes, then this run's events, oldest first."""
    earlier = [{"at": h.get("finished_at") or h.get("at"), "event": f"run {i + 1} ended {h.get('state', '?')}",
                "detail": ""} for i, h in enumerate(record.history)]
    events = [{"at": e.get("at"), "event": e.get("event", "?"),
               "detail": ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "event"))}
              for e in record.events]
    return [*earlier, *events]
