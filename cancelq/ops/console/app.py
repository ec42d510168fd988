"""The console's state: one per Flower process, shared by its handlers (``install.py`` puts them into Flower)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

