"""Operator commands (metrics, health, flower): registered on the main ``cancelq`` app.

Importing this module (``main.py`` does) also imports ``metrics``, which connects
the worker_ready handler that serves each ``cancelq worker``'s /metrics endpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cancelq.core.settings import get_settings
from cancelq.ops import metrics
from cancelq.ops.flower import FlowerConfigError, FlowerOptions, flower_launch, run_flower
from cancelq.ops.health import Probe, check_health


def metrics_command() -> None:
    """Print one Prometheus scrape: the fleet state read from Redis and this process's metrics."""
    sys.stdout.write(metrics.exposition(get_settings()).decode())


def health_command(
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    max_dead_letters: Annotated[int | None, typer.Option(
        help="unhealthy above this many dead letters; -1: never (default: health_max_dead_letters)")] = None,
    min_workers: Annotated[int | None, typer.Option(
        help="unhealthy with fewer live workers (default: health_min_workers; 0 skips)")] = None,
    worker: Annotated[str | None, typer.Option(help="require this worker (its --hostname) to be alive")] = None,
    local: Annotated[bool, typer.Option("--local", help="require a live worker on this host (liveness)")] = False,
    ping: Annotated[bool, typer.Option("--ping", help="also ping the workers through the broker")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds per check (default: health_timeout_s)")] = None,
) -> None:
    """Exit 0 when healthy, else 1 with the reasons; for liveness and readiness probes.

    Unhealthy: Redis or the broker unreachable, no live worker, or more dead letters than the threshold.
    """
    settings = get_settings()
    probe = Probe(
        min_workers=settings.health_min_workers if min_workers is None else min_workers,
        max_dead_letters=settings.health_max_dead_letters if max_dead_letters is None else max_dead_letters,
        worker=worker, local=local, ping=ping,
        timeout_s=settings.health_timeout_s if timeout is None else timeout)
    health = check_health(settings, probe)
    if as_json:
        typer.echo(json.dumps(health.to_dict(), indent=2))
    else:
        for check in health.checks:
            typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        typer.echo("healthy" if health.healthy else
                   f"unhealthy: {', '.join(check.name for check in health.failures)}")
    if not health.healthy:
        raise typer.Exit(1)


def flower_command(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="default: flower_port (5555)")] = None,
    address: Annotated[str | None, typer.Option(help="default: flower_address")] = None,
    db: Annotated[Path | None, typer.Option(help="state file (default: flower_db, else data_dir/flower.db)")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="run without basic auth (local use only)")] = False,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="disable Flower's task and worker controls and the console's actions")] = False,
    url_prefix: Annotated[str | None, typer.Option(help="serve under this path (behind a proxy)")] = None,
) -> None:
    """Flower on the configured broker, with basic auth and persistent state, and cancelq's console at /cancelq.

    Credentials come from CANCELQ_FLOWER_BASIC_AUTH (user:password). Further arguments go to Flower as they
    are (e.g. --purge_offline_workers=600).
    """
    options = FlowerOptions(port=port, address=address, db=db, no_auth=no_auth, read_only=read_only,
                            url_prefix=url_prefix, extra=list(ctx.args))
    try:
        launch = flower_launch(get_settings(), options)
    except FlowerConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    auth = "no auth" if no_auth else "basic auth on"
    typer.echo(f"flower on port {launch.port} ({auth}); state in {launch.db}", err=True)
    run_flower(launch, read_only=read_only)


def register(app: typer.Typer) -> None:
    """Add the operator commands to ``app``."""
    app.command("metrics")(metrics_command)
    app.command("health")(health_command)
    app.command("flower", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        flower_command)


__all__ = ["metrics", "register"]
