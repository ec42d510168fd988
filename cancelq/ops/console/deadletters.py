"""The Dead letters pages: counts by kind and code, the filtered list paged on the server, an entry's detail,
replay and purge (one, selected, or every match after a confirmation), and the export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import tornado.web
from tornado import web
from tornado.ioloop import IOLoop

from cancelq.jobs.deadletters import KINDS, DeadFilter, export_lines
from cancelq.ops.console import actions
from cancelq.ops.console.base import ConsoleHandler

T = TypeVar("T")
PAGE_SIZE = 50
SEARCH_EXPORT = 10_000
FILTER_FIELDS = ("platform", "shop", "code", "kind", "campaign", "since", "q")


class HomeHandler(ConsoleHandler):
    @web.authenticated
    def get(self) -> None:
        self.redirect(self.reverse_url("cancelq-dead"))


class DeadQueryHandler(ConsoleHandler):
    """A handler that reads the dead-letter filter from its arguments."""

    def query(self) -> dict[str, str]:
        return {name: self.argument(name) for name in FILTER_FIELDS if self.argument(name)}

    def where(self) -> DeadFilter:
        q = self.query()
        kind = q.get("kind")
        if kind and kind not in KINDS:
            raise web.HTTPError(400, f"kind is one of {', '.join(KINDS)}, not {kind!r}")
        return DeadFilter(platform=q.get("platform"), shop=q.get("shop"), code=q.get("code"),
                          campaign=q.get("campaign"), kind=kind, since_ms=since_ms(q.get("since")))

    def list_url(self, **more: str) -> str:
        args = {**self.query(), **more}
        return str(self.reverse_url("cancelq-dead")) + (f"?{urlencode(args)}" if args else "")


class DeadListHandler(DeadQueryHandler):
    @web.authenticated
    def get(self) -> None:
        where, search = self.where(), self.query().get("q", "")
        offset = max(0, self.get_argument("offset", 0, type=int) or 0)
        store = self.console.client.rt.dead_letters
        page = store.page(where, search=search, offset=offset, limit=PAGE_SIZE)
        self.page("cancelq_dead.html", "cancelq-dead", entries=page.entries, total=page.total, offset=offset,
                  size=PAGE_SIZE, counts=store.counts(), query=self.query(), kinds=KINDS,
                  list_url=self.list_url, export_url=self.export_url)

    def export_url(self, fmt: str) -> str:
        return str(self.reverse_url("cancelq-dead-export")) + "?" + urlencode({**self.query(), "fmt": fmt})


class DeadBulkHandler(DeadQueryHandler):
    """Replay or purge the selected entries, or every match of the filter (after a confirmation)."""

    @web.authenticated
    async def post(self) -> None:
        self.require_operator()
        what, scope = self.argument("action"), self.argument("scope", "selected")
        if what not in ("replay", "purge"):
            raise web.HTTPError(400, "action is replay or purge")
        who = actions.Who(self.operator, self.request.remote_ip or "")
        if scope == "selected":
            ids = [i for i in self.get_arguments("job") if i]
            if not ids:
                self.done("nothing selected: tick the dead letters to act on", self.list_url())
                return
            if what == "purge" and self.argument("confirm") != "yes":
                self.page("cancelq_confirm.html", "cancelq-dead", what=what, total=len(ids), ids=ids,
                          cap=len(ids), query=self.query(), back=self.list_url())
                return
            run = actions.replay if what == "replay" else actions.purge
            done = await off_loop(run, self.console, who, ids)
            self.done(done.message, self.list_url())
            return
        where, search = self.where(), self.query().get("q", "")
        if self.argument("confirm") != "yes":
            _, total = actions.matching(self.console, where, search)
            self.page("cancelq_confirm.html", "cancelq-dead", what=what, total=total, cap=self.console.action_cap,
                      ids=[], query=self.query(), back=self.list_url())
            return
        done = await off_loop(actions.on_matching, self.console, who, what, where, search)
        more = f"; {done.more} more match: act again to continue" if done.more else ""
        self.done(done.message + more, self.list_url())


class DeadEntryHandler(ConsoleHandler):
    @web.authenticated
    def get(self, job_id: str) -> None:
        entry = self.console.client.dead_letter(job_id)
        if entry is None:
            raise web.HTTPError(404, f"no dead letter {job_id}: replayed, purged or expired (see its job page)")
        record = self.console.client.rt.ledger.get(job_id)
        self.page("cancelq_dead_entry.html", "cancelq-dead", entry=entry, record=record)


class DeadEntryActionHandler(ConsoleHandler):
    @web.authenticated
    def post(self, job_id: str, what: str) -> None:
        self.require_operator()
        who = actions.Who(self.operator, self.request.remote_ip or "")
        if what == "replay":
            done = actions.replay(self.console, who, [job_id])
            to = self.reverse_url("cancelq-job", job_id) if done.count else self.reverse_url("cancelq-dead")
        else:
            done = actions.purge(self.console, who, [job_id])
            to = self.reverse_url("cancelq-dead")
        self.done(done.message, to)


class DeadExportHandler(DeadQueryHandler):
    @web.authenticated
    async def get(self) -> None:
        fmt = self.argument("fmt", "csv")
        if fmt not in ("csv", "jsonl"):
            raise web.HTTPError(400, "fmt is csv or jsonl")
        self.set_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson")
        self.set_header("Content-Disposition", f'attachment; filename="dead-letters.{fmt}"')
        where, search = self.where(), self.query().get("q", "")
        store = self.console.client.rt.dead_letters
        entries = store.page(where, search=search, limit=SEARCH_EXPORT).entries if search else store.iter(where)
        self.finish(await off_loop(lambda: "".join(export_lines(entries, fmt))))


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """Run a long store operation (a bulk replay, an export) on Flower's executor, not its event loop: Flower's
    pages keep answering meanwhile."""
    return await IOLoop.current().run_in_executor(None, call, *args)


def since_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        raise tornado.web.HTTPError(400, f"since takes an ISO date or time, e.g. 2026-11-23T10:00, not {text!r}") \
            from None
