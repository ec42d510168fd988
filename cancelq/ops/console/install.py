"""The console's installation into Flower's Tornado application (the top of the console: it imports every page)."""

from __future__ import annotations

from typing import Any

from flower.app import rewrite_handler

from cancelq.ops.console.app import STATIC, TEMPLATES, Console
from cancelq.ops.console.loader import ConsoleLoader
from cancelq.ops.console.routes import handlers


def install(flower: Any, console: Console) -> None:
    """Add the console's pages to a ``flower.app.Flower`` before it starts, ahead of its catch-all handler."""
    flower.settings["template_loader"] = ConsoleLoader(flower.settings["template_path"], str(TEMPLATES))
    flower.cancelq_console = console
    routes = handlers(console, str(STATIC))
    prefix = flower.options.url_prefix
    flower.add_handlers(r".*", [rewrite_handler(h, prefix) for h in routes] if prefix else routes)
    console.client.rt.dead_letters.ensure_indexed()
