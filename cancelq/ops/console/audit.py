"""The Audit page: every console action, newest first (who, when, what, the filter, how many, from where)."""

from __future__ import annotations

from tornado import web

from cancelq.ops.console.base import ConsoleHandler

PAGE_SIZE = 100


class AuditHandler(ConsoleHandler):
    @web.authenticated
    def get(self) -> None:
        before = self.argument("before") or None
        entries = self.console.audit.recent(PAGE_SIZE, before)
        self.page("cancelq_audit.html", "cancelq-audit", entries=entries, size=PAGE_SIZE,
                  total=self.console.audit.size())
