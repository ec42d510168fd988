"""``cancelq valkey``: the embedded Valkey server of a data directory (``CANCELQ_DATA_DIR``, default ``.cancelq``):
which one, whether it runs, start it, stop it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cancelq.cli.common import out
from cancelq.cli.errors import FAILED, Failed, TimedOut, shown_url
from cancelq.cli.render import emit_json
from cancelq.core.embedded import ServerStatus, ensure_server, server_status, stop_server
from cancelq.core.process import poll_until
from cancelq.core.settings import get_settings

valkey_app = typer.Typer(no_args_is_help=True, help="The embedded Valkey server (used when CANCELQ_REDIS_URL is not "
                                                    "set): status, start, stop.")
STOP_TIMEOUT_S = 15.0


def _status() -> ServerStatus:
    return server_status(get_settings().data_dir)


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@valkey_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="as one JSON document")] = False) -> None:
    """The data directory, its server's pid and port, and whether it runs (exit 1 when it does not)."""
    s = _status()
    configured = get_settings().redis_url
    data = {"data_dir": str(s.data_dir), "exists": s.data_dir.exists(), "running": s.running, "pid": s.pid,
            "port": s.port, "url": s.url, "redis_url": shown_url(configured) if configured else None}
    if as_json:
        emit_json(data)
    else:
        state = "running" if s.running else "not running"
        out.print(f"embedded Valkey in {s.data_dir}: {state}" + (f", pid {s.pid}, port {s.port} ({s.url})"
                                                                 if s.running else ""), highlight=False,
                  soft_wrap=True)
        if not s.data_dir.exists():
            out.print("  (no such directory: `cancelq valkey start` makes it)", highlight=False)
        if configured:
            out.print(f"  not in use: CANCELQ_REDIS_URL is {shown_url(configured)}", highlight=False, soft_wrap=True)
    if not s.running:
        raise typer.Exit(FAILED)


@valkey_app.command("start")
def start() -> None:
    """Start the data directory's server (creating the directory); nothing happens when it already runs."""
    before = _status()
    url = ensure_server(before.data_dir)
    verb = "already running" if before.running else "started"
    out.print(f"embedded Valkey in {before.data_dir} {verb} at {url}", highlight=False, soft_wrap=True)


@valkey_app.command("stop")
def stop() -> None:
    """Stop the data directory's server cleanly (its data is kept on disk for the next start)."""
    s = _status()
    if not s.running:
        raise Failed(f"no embedded Valkey runs in {s.data_dir}", hint="`cancelq valkey status` says which "
                                                                      "directory is looked in")
    stop_server(s.data_dir)
    if not poll_until(lambda: not _pid_alive(s.pid) and not _status().running, timeout_s=STOP_TIMEOUT_S):
        raise TimedOut(f"the embedded Valkey in {s.data_dir} (pid {s.pid}) did not stop in {STOP_TIMEOUT_S:g}s")
    out.print(f"embedded Valkey in {s.data_dir} stopped (pid {s.pid}, port {s.port})", highlight=False,
              soft_wrap=True)
