"""cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""

from __future__ import annotations

import typer

from cancelq.cli import dlq, events, fleet, jobs, ops, run, shops, webhooks
from cancelq.cli.api import api
from cancelq.cli.apikeys import apikeys_app
from cancelq.cli.campaign import campaign_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
for command in (run.worker, jobs.submit, fleet.pause, fleet.resume, fleet.status, run.sandbox, run.demo):
    app.command()(command)
ops.register(app)
app.add_typer(jobs.job_app, name="job")
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(shops.shops_app, name="shops")
app.add_typer(campaign_app, name="campaign")
app.add_typer(events.events_app, name="events")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.command()(api)
app.add_typer(apikeys_app, name="apikeys")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
