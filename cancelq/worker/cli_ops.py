"""Operator commands (metrics, health, flower): registered on the main ``cancelq`` app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the operator commands to ``app``."""
