"""``cancelq webhooks``: signed webhook endpoints fed from the event stream (Standard Webhooks headers).

Every refusal (an unknown id, a pattern matching no event type, a refused URL) prints one message and changes
nothing. URLs are shown by host only; a secret is printed once, when it is made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from cancelq.cli.common import client, fail, out, when
from cancelq.cli.render import emit_json
from cancelq.delivery import operations
from cancelq.delivery.endpoints import Endpoint, EndpointError, Endpoints
from cancelq.delivery.service import endpoints_of, queue_of
from cancelq.runtime import Runtime

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints: signed, retried for days, replayable.")


def _store() -> tuple[Runtime, Endpoints]:
    rt = client().rt
    return rt, endpoints_of(rt)


def _get(store: Endpoints, endpoint_id: str) -> Endpoint:
    try:
        return store.get(endpoint_id)
    except EndpointError as exc:
        raise fail(str(exc), 2) from None


def print_secret(endpoint: Endpoint, what: str) -> None:
    """The endpoint's id and its secret, shown this once."""
    out.print(f"{what} [bold]{endpoint.id}[/bold] -> {escape(endpoint.host)}", highlight=False)
    out.print(f"  secret: {endpoint.secret}", highlight=False, soft_wrap=True)
    out.print("  (shown once: keep it where the receiver verifies signatures)")


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="where to POST (http or https; its path and query are never shown)")],
    events: Annotated[list[str] | None, typer.Option("--events", help="an event type or pattern, e.g. 'cancel.*'")]
    = None,
    shop: Annotated[list[str] | None, typer.Option("--shop", help="only events of this shop, PLATFORM/NAME")] = None,
    source: Annotated[str, typer.Option(help="only events of jobs from this source")] = "",
) -> None:
    """Add an endpoint; prints its id and its whsec_ secret once."""
    _, store = _store()
    try:
        endpoint = store.add(url, events=events or [], shops=shop or [], source=source)
    except EndpointError as exc:
        raise fail(str(exc), 2) from None
    print_secret(endpoint, "endpoint")


@webhooks_app.command("list")
def list_endpoints(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every endpoint: host, filters, enabled, waiting deliveries."""
    rt, store = _store()
    endpoints = store.all()
    queue = queue_of(rt)
    if as_json:
        emit_json([{**e.shown(), "waiting": queue.pending(e.id)} for e in endpoints])
        return
    for e in endpoints:
        enabled = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        out.print(escape(f"{e.id}  {e.host}  events={','.join(e.events) or '*'}  shops={','.join(e.shops) or '*'}  "
                         f"source={e.source or '*'}  {enabled}  waiting={queue.pending(e.id)}  "
                         f"failing_since={when(e.failing_since)}"), soft_wrap=True, highlight=False)
    if not endpoints:
        out.print("no webhook endpoints (add one: cancelq webhooks add URL)")


@webhooks_app.command("show")
def show(endpoint_id: str, count: Annotated[int, typer.Option(min=1, max=1000, help="recent deliveries shown")] = 20,
         as_json: Annotated[bool, typer.Option("--json", help="as JSON (times ISO 8601 UTC)")] = False) -> None:
    """An endpoint and its recent deliveries: status codes, latency, attempt."""
    rt, store = _store()
    endpoint = _get(store, endpoint_id)
    if as_json:
        emit_json({**endpoint.shown(), "waiting": queue_of(rt).pending(endpoint.id),
                   "recent": store.recent(endpoint.id, count)})
        return
    for name, value in endpoint.shown().items():
        out.print(f"{name}: {escape(str(value))}", highlight=False)
    out.print(f"waiting: {queue_of(rt).pending(endpoint.id)}")
    out.print("recent deliveries (newest first): at, event, type, attempt, status, latency")
    for entry in store.recent(endpoint.id, count):
        out.print(escape(f"  {when(entry['at'])}  {entry['event_id']}  {entry.get('type', '')}  "
                         f"attempt={entry['attempt']}  {entry['status'] or entry['error']}  "
                         f"{entry['latency_ms']:.0f} ms"), soft_wrap=True, highlight=False)


@webhooks_app.command("test")
def test(endpoint_id: str) -> None:
    """Send a signed webhook.test event to the endpoint now; exit 1 unless it answers 2xx."""
    rt, store = _store()
    outcome = operations.send_test(rt, _get(store, endpoint_id))
    answer = f"http {outcome.status}" if outcome.status is not None else outcome.error
    out.print(f"{endpoint_id}: {answer} in {outcome.latency_ms:.0f} ms")
    if not outcome.ok:
        raise typer.Exit(1)


@webhooks_app.command("rotate-secret")
def rotate_secret(endpoint_id: str) -> None:
    """A new secret (printed once); the old one also signs for the grace period (webhook_secret_grace_s)."""
    _, store = _store()
    _get(store, endpoint_id)
    endpoint = store.rotate(endpoint_id)
    print_secret(endpoint, "rotated")
    out.print(f"  the old secret also signs until {when(endpoint.old_until)}")


@webhooks_app.command("disable")
def disable(endpoint_id: str) -> None:
    """Stop sending to the endpoint (its waiting deliveries are dropped; `replay` sends them again)."""
    _, store = _store()
    _get(store, endpoint_id)
    changed = store.disable(endpoint_id, "disabled by an operator")
    out.print(f"{endpoint_id} disabled" if changed else f"{endpoint_id} was already disabled")


@webhooks_app.command("enable")
def enable(endpoint_id: str) -> None:
    """Send to the endpoint again (deliveries from now on; `replay` sends what it missed)."""
    _, store = _store()
    _get(store, endpoint_id)
    store.enable(endpoint_id)
    out.print(f"{endpoint_id} enabled")


@webhooks_app.command("remove")
def remove(endpoint_id: str) -> None:
    """Remove the endpoint and its waiting deliveries."""
    _, store = _store()
    _get(store, endpoint_id)
    store.remove(endpoint_id)
    out.print(f"{endpoint_id} removed")


@webhooks_app.command("replay")
def replay(
    endpoint_id: str,
    since: Annotated[str | None, typer.Option(help="every matching event since this ISO time (UTC if no zone)")]
    = None,
    event: Annotated[str | None, typer.Option(help="this one event (its stream id)")] = None,
) -> None:
    """Send events to the endpoint again (same webhook-id), through the workers' durable queue."""
    rt, store = _store()
    endpoint = _get(store, endpoint_id)
    if (since is None) == (event is None):
        raise fail("give exactly one of --since ISO-TIME or --event EVENT-ID", 2)
    if event is not None:
        if not operations.replay_event(rt, endpoint, event):
            raise fail(f"no event {event!r} in the stream (events are kept {rt.settings.events_retention_s:.0f}s)",
                       2)
        out.print(f"1 event queued for {endpoint_id}")
        return
    count = operations.replay_since(rt, endpoint, _ms(str(since)))
    out.print(f"{count} event(s) queued for {endpoint_id}")


def _ms(text: str) -> int:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--since {text!r} is not an ISO time, e.g. 2026-12-01T10:00:00Z", 2) from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)
