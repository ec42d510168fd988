"""``cancelq submit`` and ``cancelq job``: send one cancel job, look at jobs in the ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from cancelq.cli.common import client, fail, out, when
from cancelq.client import JobNotFound
from cancelq.jobs.ledger import JobRecord

job_app = typer.Typer(no_args_is_help=True, help="Look at jobs in the ledger.")


def submit(
    platform: Annotated[str, typer.Option(help="shopee, lazada, shopline or shoplazza")],
    shop: Annotated[str, typer.Option(help="a shop name from `cancelq shops list`")],
    order: Annotated[str, typer.Option(help="the platform's order id")],
    reason: Annotated[str, typer.Option(help="OUT_OF_STOCK, CUSTOMER_REQUEST, ... (see the README)")],
    note: Annotated[str, typer.Option(help="free text sent with the reason")] = "",
    item: Annotated[list[str] | None, typer.Option(help='an item as JSON, repeatable')] = None,
    option: Annotated[list[str] | None, typer.Option(help="a platform option key=value, repeatable")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="default: platform/shop/order(/items)")] = None,
    force: Annotated[bool, typer.Option(help="run a finished job again on purpose")] = False,
    wait: Annotated[float, typer.Option(help="seconds to wait for the outcome (0: return at once)")] = 0.0,
) -> None:
    """Submit one cancel job."""
    job = _job(platform, shop, order, reason, note, item, option)
    if idempotency_key:
        job["idempotency_key"] = idempotency_key
    handle = client().submit(job, force=force, source="cli")
    if handle.rejected:
        raise fail(f"job {handle.job_id} rejected: {handle.reason}", 2)
    verb = "submitted" if handle.created else f"already known ({handle.state}); nothing sent"
    out.print(f"job {handle.job_id} {verb}")
    if wait > 0:
        record = handle.wait(timeout_s=wait)
        out.print(f"job {handle.job_id} {record.state}")
        if record.state not in ("succeeded", "already_cancelled"):
            raise typer.Exit(1)


def _job(platform: str, shop: str, order: str, reason: str, note: str, item: list[str] | None,
         option: list[str] | None) -> dict[str, Any]:
    job: dict[str, Any] = {"platform": platform, "shop": shop, "order_id": order, "reason": reason.upper(),
                           "source": "cli"}
    if note:
        job["note"] = note
    try:
        if item:
            job["items"] = [json.loads(i) for i in item]
    except json.JSONDecodeError as exc:
        raise fail(f"--item must be JSON: {exc}", 2) from None
    if option:
        job["options"] = {k: _json_value(v) for k, _, v in (o.partition("=") for o in option)}
    return job


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@job_app.command("show")
def job_show(job_id: Annotated[str, typer.Argument(help="a job id, or its first characters")],
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A job's state, steps, attempts and last error."""
    try:
        record = client().job(job_id)
    except JobNotFound as exc:
        raise fail(str(exc)) from None
    if as_json:
        out.print_json(data=record.to_dict())
        return
    _print_summary(record)
    table = Table("step", "request id", "at", "data")
    for name, step in record.steps.items():
        table.add_row(name, str(step.get("request_id") or "-"), when(step.get("at")),
                      json.dumps(step.get("data"))[:80])
    if record.steps:
        out.print(table)
    for event in record.events[-10:]:
        detail = {k: v for k, v in event.items() if k not in ("at", "event")}
        out.print(f"  {when(event['at'])} {event['event']} {detail if detail else ''}")


def _print_summary(record: JobRecord) -> None:
    job = record.job
    out.print(f"[bold]job {record.job_id}[/bold]  state=[bold]{record.state}[/bold]  attempts={record.attempts}"
              f"  runs={record.runs}" + (f"  attribution={record.attribution}" if record.attribution else ""))
    if job.get("client_ref"):
        out.print(escape(f"  client_ref={job['client_ref']}"))
    out.print(f"  {job.get('platform')}/{job.get('shop')} order={job.get('order_id')} reason={job.get('reason')}"
              f" campaign={job.get('campaign_id') or '-'}")
    out.print(f"  created {when(record.created_at)}  finished {when(record.finished_at)}"
              f"  due {when(record.due_at)}")
    if record.reject_reason:
        out.print(escape(f"  rejected: {record.reject_reason}"))
    if record.last_error:
        e = record.last_error
        out.print(escape(f"  last error: {e.get('error_class')} [{e.get('code')}] {e.get('message')}"
                         f" request_id={e.get('request_id')}"))


@job_app.command("find")
def job_find(key: Annotated[str | None, typer.Option(help="the idempotency key it was submitted under")] = None,
             ref: Annotated[str | None, typer.Option(help="the producer's own reference (client_ref)")] = None,
             order: Annotated[str | None, typer.Option(help="the order id (whole-order jobs)")] = None,
             platform: Annotated[str | None, typer.Option(help="with --order: only this platform")] = None,
             shop: Annotated[str | None, typer.Option(help="with --order: only this shop")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Find a job by its order, its idempotency key or the producer's reference (``client_ref``)."""
    if sum(x is not None for x in (key, ref, order)) != 1:
        raise fail("give one of --order, --key or --ref", 2)
    if order is not None:
        records = client().find_order(order, platform=platform, shop=shop)
    else:
        found = client().find(key=key, client_ref=ref)
        records = [found] if found is not None else []
    if not records:
        what = f"order {order!r}" if order is not None else \
            f"{'idempotency key' if key is not None else 'client_ref'} {key if key is not None else ref!r}"
        raise fail(f"no job for {what}")
    if as_json:
        out.print_json(data=[r.to_dict() for r in records] if order is not None else records[0].to_dict())
        return
    for record in records:
        _print_summary(record)


@job_app.command("rejected")
def job_rejected(limit: int = 20) -> None:
    """Jobs rejected at intake or by the task, newest first, with their reasons."""
    table = Table(Column("job", no_wrap=True), "when", "reason", "job as received")
    for record in client().rejected(limit):
        table.add_row(record.job_id, when(record.created_at), record.reject_reason,
                      json.dumps(record.job)[:60])
    out.print(table)
