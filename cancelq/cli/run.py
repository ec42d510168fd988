"""``cancelq worker``, ``sandbox`` and ``demo``: the commands that run something until it ends.

Each imports what it runs inside the command, not at the top:
- ``cancelq.worker.app`` loads Celery's worker, the task and the four platforms (it connects nothing until
  the worker starts): no other command should pay for that at start-up;
- the sandbox (``cancelq.sandbox.runner``, imported by the demo too) loads aiohttp and the four emulators,
  about 0.1 s added to every command's start-up were it imported at the top.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cancelq.cli.common import out, use_redis
from cancelq.core.settings import get_settings


def worker(
    pool: Annotated[str, typer.Option(help="threads for I/O-bound calls; prefork isolates")] = "threads",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="parallel jobs in this process")] = 32,
    loglevel: Annotated[str, typer.Option(help="Celery's own log level (job events are ours)")] = "warning",
    hostname: Annotated[str | None, typer.Option(help="worker name, e.g. cancelq1@%h")] = None,
) -> None:
    """Run a worker: consumes jobs, runs the delayed-job pump, sends task events for Flower."""
    use_redis(create=True)  # an embedded server it starts is named on stderr
    from cancelq.worker.app import app as celery_app

    argv = ["worker", "--pool", pool, "--concurrency", str(concurrency), "--loglevel", loglevel,
            "--queues", get_settings().queue, "--without-gossip", "--without-mingle",
            "--task-events"]
    if hostname:
        argv += ["--hostname", hostname]
    celery_app.worker_main(argv)


def sandbox(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the four platforms' sandbox on loopback (control API under /_sandbox/)."""
    from cancelq.sandbox.runner import serve

    serve(host, port)


def demo(orders: Annotated[int, typer.Option(help="orders across the four platforms")] = 300,
         concurrency: int = 32) -> None:
    """Embedded Valkey, the sandbox, a worker and a few hundred orders with realistic faults; then a summary."""
    from cancelq.cli.demo import run_demo

    raise typer.Exit(run_demo(orders=orders, concurrency=concurrency, console=out))
