"""``cancelq events``: read the event outbox (``cancelq/schemas/event.schema.json``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from cancelq.cli.common import client, out
from cancelq.jobs.events import Event

events_app = typer.Typer(no_args_is_help=True, help="Read the events: outcomes, shops needing re-auth, circuits, "
                                                     "campaigns.")


@events_app.command("tail")
def tail(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing events as they are written")] = False,
    group: Annotated[str | None, typer.Option(help="read as this consumer group (each event once, acknowledged)")]
    = None,
    event_type: Annotated[list[str] | None, typer.Option("--type", help="a type or pattern, e.g. 'cancel.*'")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON event per line")] = False,
) -> None:
    """The latest events (or a group's unread ones); with --follow, every new one as it comes."""
    cq = client()
    for event in cq.events(group=group, consumer="cli", types=event_type, follow=follow):
        out.print(json.dumps(event.to_dict(), separators=(",", ":")) if as_json else _line(event),
                  soft_wrap=True, highlight=False, markup=not as_json)
        if group is not None:
            cq.ack_events(group, [event.id])


def _line(event: Event) -> str:
    data = event.data
    subject = data.get("job_id") or data.get("campaign_id") or data.get("circuit") or data.get("shop") or "-"
    where = "/".join(str(data[k]) for k in ("platform", "shop") if data.get(k))
    detail = {k: data[k] for k in ("order_id", "client_ref", "attribution", "dead_kind", "reject_reason") if
              data.get(k)}
    return escape(f"{event.occurred_at} {event.id} {event.type} {subject} {where} "
                  f"{' '.join(f'{k}={v}' for k, v in detail.items())}".rstrip())
