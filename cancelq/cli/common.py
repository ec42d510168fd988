"""What every command group shares: the two consoles, the client, refusals and times as operators read them."""

from __future__ import annotations

import os

from rich.console import Console

from cancelq.cli.errors import CliError, Unreachable
from cancelq.cli.render import iso
from cancelq.client import CancelQ
from cancelq.core.embedded import ensure_server, server_status
from cancelq.core.settings import get_settings

out = Console()
err = Console(stderr=True)


def size_consoles() -> None:
    """Both consoles as wide as ``COLUMNS`` says (when it does), else as wide as the terminal."""
    columns = os.environ.get("COLUMNS", "")
    for console in (out, err):
        console.width = int(columns) if columns.isdigit() and int(columns) > 0 else None  # type: ignore[assignment]


def use_redis(*, create: bool = False) -> None:
    """Make sure the command talks to the Redis it means to: ``CANCELQ_REDIS_URL``, or the embedded server of the
    data directory. Where no such directory exists, refuse rather than start an empty second server (unless the
    command ``create``s, as the first ``shops add`` does); whenever a server is started, say so on stderr."""
    settings = get_settings()
    if settings.redis_url:
        return
    status = server_status(settings.data_dir)
    if status.running:
        return
    if not status.data_dir.exists() and not create:
        raise Unreachable(
            f"no Redis: CANCELQ_REDIS_URL is not set and there is no embedded Valkey in {status.data_dir}",
            hint="run where `cancelq worker` runs, or set CANCELQ_DATA_DIR to its data directory, or "
                 "CANCELQ_REDIS_URL=redis://...; `cancelq valkey start` starts an embedded server here")
    how = "it was not running" if status.data_dir.exists() else "a new data directory; CANCELQ_REDIS_URL is not set"
    url = ensure_server(status.data_dir)
    err.print(f"started the embedded Valkey of {status.data_dir} at {url} ({how})", highlight=False, soft_wrap=True)


def client(*, create: bool = False) -> CancelQ:
    """A client on the configured Redis, made when a command runs (nothing connects at import); ``create``: the
    command may start a new embedded server (see ``use_redis``)."""
    use_redis(create=create)
    return CancelQ()


def when(ms: int | None) -> str:
    """A time as tables and lines show it: ISO 8601 UTC to the second, with ``Z``."""
    return iso(ms)


def fail(message: str, code: int = 1, hint: str | None = None) -> CliError:
    """The refusal ``message`` (one ``error:`` line, exit ``code``); the caller raises what this returns."""
    return CliError(message, hint=hint, code=code)
