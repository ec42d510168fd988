"""What every command group shares: the two consoles, the client, refusals and times as operators read them."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console

from cancelq.client import CancelQ

out = Console()
err = Console(stderr=True)


def client() -> CancelQ:
    """A client on the configured Redis, made when a command runs (nothing connects at import)."""
    return CancelQ()


def when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else "-"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the caller raises what this returns (exit ``code``)."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)
