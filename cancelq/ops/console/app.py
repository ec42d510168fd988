"""The console's state (one per Flower process) and its installation into Flower's Tornado application."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cancelq.client import CancelQ
from cancelq.core.settings import Settings
from cancelq.ops.audit import Audit

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass
class Console:
    """What the handlers share: the client on cancelq's stores, who may act, the audit stream."""

    client: CancelQ
    operators: frozenset[str]
    read_only: bool
    action_cap: int
    audit: Audit

    @classmethod
    def from_settings(cls, client: CancelQ, settings: Settings, *, read_only: bool = False) -> Console:
        return cls(client, frozenset(settings.console_operators), read_only or settings.console_read_only,
                   max(1, settings.console_action_cap), Audit(client.rt.redis))

    def refusal(self, operator: str) -> str:
        """Why ``operator`` may not act ("" when they may)."""
        if self.read_only:
            return "the console is read-only (cancelq flower --read-only, or console_read_only)"
        if "*" in self.operators or operator in self.operators:
            return ""
        return f"{operator} may look but not act: console_operators names who may act"

    def dead_total(self) -> int:
        return self.client.rt.dead_letters.size()


def install(flower: Any, console: Console) -> None:
    """Add the console's pages to a ``flower.app.Flower`` before it starts, ahead of its catch-all handler."""
    from flower.app import rewrite_handler

    from cancelq.ops.console.loader import ConsoleLoader
    from cancelq.ops.console.routes import handlers

    flower.settings["template_loader"] = ConsoleLoader(flower.settings["template_path"], str(TEMPLATES))
    flower.cancelq_console = console
    routes = handlers(console, str(STATIC))
    prefix = flower.options.url_prefix
    flower.add_handlers(r".*", [rewrite_handler(h, prefix) for h in routes] if prefix else routes)
    console.client.rt.dead_letters.ensure_indexed()
