"""cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cancelq.cli import budget, dlq, events, fleet, jobs, ops, run, shops, valkey, webhooks
from cancelq.cli.api import api
from cancelq.cli.apikeys import apikeys_app
from cancelq.cli.campaign import campaign_app
from cancelq.cli.common import err, size_consoles
from cancelq.cli.errors import USAGE, CliGroup, Debug, Refused, report
from cancelq.core.logging import configure
from cancelq.core.settings import SettingsError
from cancelq.core.version import build

OWN_LOGGING = frozenset({"worker", "api", "flower"})
"""Commands that configure logging from the settings themselves (servers); every other command logs only
warnings, to stderr, so that no log line ends up in its output."""

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, cls=CliGroup, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False)  # a --debug traceback never shows values (credentials)
# rich_markup_mode=None: plain help. Typer's rich help prints a type (`<bool>`) after every flag and reads help
# text as rich markup (eating `[[shops]]`); plain help has neither problem.


def _version(shown: bool) -> None:
    if shown:
        info = build()
        typer.echo(f"cancelq {info['version']} (Python {info['python']}, Celery {info['celery']})")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print cancelq's version and exit")] = False,
          debug: Annotated[bool, typer.Option("--debug", help="show the traceback of a failure instead of "
                                                              "one error line")] = False) -> None:
    """cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""
    Debug.on = debug
    size_consoles()


for command in (run.worker, jobs.submit, fleet.pause, fleet.resume, fleet.status, run.sandbox, run.demo):
    app.command()(command)
ops.register(app)
app.add_typer(jobs.job_app, name="job")
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(shops.shops_app, name="shops")
app.add_typer(fleet.circuits_app, name="circuits")
app.add_typer(budget.budget_app, name="budget")
app.add_typer(campaign_app, name="campaign")
app.add_typer(events.events_app, name="events")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.command()(api)
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(valkey.valkey_app, name="valkey")


def _quiet_logs(argv: list[str]) -> None:
    """Log warnings only, to stderr, unless the command is a server with its own logging (done here, in the
    process's entry point, not per command: logging is process-wide)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in OWN_LOGGING:
        configure("auto", "DEBUG" if "--debug" in argv else "WARNING", stream=sys.stderr)


def main() -> None:
    _quiet_logs(sys.argv[1:])
    try:
        app()
    except SettingsError as exc:  # raised before a command runs (while its options are read)
        report(Refused(str(exc)), err)
        raise SystemExit(USAGE) from None


if __name__ == "__main__":
    main()
