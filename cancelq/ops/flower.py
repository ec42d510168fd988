"""``cancelq flower``: Flower on the configured broker, with basic auth, persistent state, our defaults and the
operators' console (``cancelq/ops/console``) at ``/cancelq``.

Flower reads its options from ``FLOWER_*`` environment variables as well as its
command line; the credentials go through the environment, so they never show
in ``ps`` or in a unit file's command line. The state file (``flower_db``,
default ``data_dir/flower.db``) keeps the task history across restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from cancelq.core.settings import Settings
from cancelq.runtime import get_runtime

TASKS_COLUMNS = "state,args,exception,retries,received,runtime,worker,uuid"
"""The tasks page's columns: a cancel task's args name the job, platform, shop, order and reason."""


class FlowerConfigError(ValueError):
    """Flower cannot start as asked (e.g. no credentials and no --no-auth)."""


@dataclass(frozen=True)
class FlowerOptions:
    """What ``cancelq flower`` was asked for; None means the setting's value."""

    port: int | None = None
    address: str | None = None
    db: Path | None = None
    no_auth: bool = False
    read_only: bool = False
    url_prefix: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FlowerLaunch:
    """Celery's command line for Flower (no secret in it) and the environment variables to set."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    db: Path = Path()
    port: int = 5555


def flower_launch(settings: Settings, options: FlowerOptions) -> FlowerLaunch:
    """Flower's arguments and environment; FlowerConfigError when it must not start."""
    credentials = settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else ""
    if not options.no_auth:
        _check_credentials(credentials)
    db = (options.db or settings.flower_db or Path(settings.data_dir) / "flower.db").resolve()
    port = settings.flower_port if options.port is None else options.port
    argv = [
        "flower",
        f"--port={port}",
        f"--address={options.address if options.address is not None else settings.flower_address}",
        "--persistent=True",
        f"--db={db}",
        f"--state_save_interval={int(settings.flower_state_save_interval_s * 1000)}",
        f"--max_tasks={settings.flower_max_tasks}",
        "--enable_events=True",
        f"--tasks_columns={TASKS_COLUMNS}",
    ]
    if options.read_only:
        argv.append("--read_only=True")
    if options.url_prefix:
        argv.append(f"--url_prefix={options.url_prefix}")
    argv += options.extra
    env = {} if options.no_auth else {"FLOWER_BASIC_AUTH": credentials}
    return FlowerLaunch(argv=argv, env=env, db=db, port=port)


def _check_credentials(credentials: str) -> None:
    if not credentials:
        raise FlowerConfigError(
            "Flower needs credentials: set CANCELQ_FLOWER_BASIC_AUTH=user:password (or flower_basic_auth in the "
            "config file), or pass --no-auth to run it open (never on a reachable address)")
    for pair in credentials.split(","):
        user, sep, password = pair.partition(":")
        if not (user and sep and password):
            raise FlowerConfigError("CANCELQ_FLOWER_BASIC_AUTH must be user:password[,user2:password2]")


def run_flower(launch: FlowerLaunch, *, read_only: bool = False) -> None:
    """Run Flower with the operators' console in this process (returns when it stops), on the producers'
    Celery app: Flower needs the broker and the workers' events, not the worker's tasks.

    This is the body of Flower's own ``celery flower`` command, with the console installed into the Tornado
    application before it serves (``cancelq/ops/console``)."""
    from flower import command
    from flower.app import Flower

    from cancelq.client import CancelQ
    from cancelq.ops.console.app import Console
    from cancelq.ops.console.install import install

    runtime = get_runtime()
    launch.db.parent.mkdir(parents=True, exist_ok=True)
    os.environ.pop("FLOWER_BASIC_AUTH", None)  # --no-auth means no auth, whatever the environment held
    os.environ.update(launch.env)
    command.apply_env_options()
    command.apply_options("cancelq flower", launch.argv[1:])
    command.extract_settings()
    command.setup_logging()
    flower = Flower(capp=runtime.sender.app, options=command.options, **command.settings)
    install(flower, Console.from_settings(CancelQ(runtime), runtime.settings, read_only=read_only))
    atexit.register(flower.stop)
    signal.signal(signal.SIGTERM, command.sigterm_handler)
    flower.start_http_server()
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        flower.start()
