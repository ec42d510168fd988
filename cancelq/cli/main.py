"""cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cancelq.cli import budget, dlq, events, fleet, jobs, ops, run, shops, webhooks
from cancelq.cli.api import api
from cancelq.cli.apikeys import apikeys_app
from cancelq.cli.campaign import campaign_app
from cancelq.cli.common import err
from cancelq.core.settings import SettingsError
from cancelq.core.version import build

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _version(shown: bool) -> None:
    if shown:
        info = build()
        typer.echo(f"cancelq {info['version']} (Python {info['python']}, Celery {info['celery']})")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print cancelq's version and exit")] = False) -> None:
    """cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""

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


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
