"""``cancelq submit`` and ``cancelq job``: send one cancel job, look at jobs in the ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from cancelq.cli import choices
from cancelq.cli.common import client, fail, out, when
from cancelq.cli.errors import Failed, Refused
from cancelq.cli.render import Col, cut, emit_json, entry, short_ids, table
from cancelq.client import CancelQ
from cancelq.guards import ScopeError
from cancelq.jobs.contract import InvalidJob
from cancelq.jobs.intake import check_job
from cancelq.jobs.ledger import JobRecord
from cancelq.platforms.reasons import Reason

job_app = typer.Typer(no_args_is_help=True, help="Look at jobs in the ledger: show, find, rejected.")
JsonOpt = Annotated[bool, typer.Option("--json", help="as JSON (every value whole, times ISO 8601 UTC)")]
GOOD_ENDS = ("succeeded", "already_cancelled")


def submit(
    platform: Annotated[str, typer.Option(help="shopee, lazada, shopline or shoplazza")],
    shop: Annotated[str, typer.Option(help="a shop name from `cancelq shops list`")],
    order: Annotated[str, typer.Option(help="the platform's order id")],
    reason: Annotated[str, typer.Option(help=f"{', '.join(r.value for r in Reason)} (case, spaces and dashes do "
                                             "not matter: 'out of stock' is OUT_OF_STOCK)")],
    note: Annotated[str, typer.Option(help="free text sent with the reason")] = "",
    item: Annotated[list[str] | None, typer.Option(help='an item as JSON, repeatable')] = None,
    option: Annotated[list[str] | None, typer.Option(help="a platform option key=value, repeatable")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="default: platform/shop/order(/items)")] = None,
    force: Annotated[bool, typer.Option("--force", help="run a finished job again on purpose")] = False,
    wait: Annotated[float, typer.Option(help="seconds to wait for the outcome (0: return at once); exit 1 if it "
                                             "is not succeeded or already_cancelled, 4 if not final in time")] = 0.0,
) -> None:
    """Submit one cancel job. A mistake (platform, shop, reason, item) is refused before anything is recorded."""
    job = _job(platform, shop, order, reason, note, item, option)
    if idempotency_key:
        job["idempotency_key"] = idempotency_key
    cq = client()
    _check(cq, job)
    handle = cq.submit(job, force=force, source="cli")
    if handle.rejected:
        raise fail(f"job {handle.job_id} rejected: {handle.reason}", 2)
    verb = "submitted" if handle.created else f"already known ({handle.state}); nothing sent"
    out.print(f"job {handle.job_id} {verb}", highlight=False)
    if wait > 0:
        record = handle.wait(timeout_s=wait)
        out.print(f"job {handle.job_id} {record.state}", highlight=False)
        if record.state not in GOOD_ENDS:
            raise Failed(f"job {handle.job_id} ended {record.state}" + _last_error(record),
                         hint=f"cancelq job show {handle.job_id}")


def _check(cq: CancelQ, job: dict[str, Any]) -> None:
    """Refuse (exit 2, nothing recorded) a job the CLI can tell is wrong: unknown shop, bad fields."""
    try:
        cq.scopes("shop", f"{job['platform']}/{job['shop']}")
        check_job(cq.rt, job)
    except (ScopeError, InvalidJob) as exc:
        raise Refused(f"{exc}; nothing was recorded") from None


def _last_error(record: JobRecord) -> str:
    e = record.last_error or {}
    return f": [{e.get('code') or e.get('error_class')}] {e.get('message')}" if e else ""


def _job(platform: str, shop: str, order: str, reason: str, note: str, item: list[str] | None,
         option: list[str] | None) -> dict[str, Any]:
    if not order.strip():
        raise Refused("--order is empty")
    job: dict[str, Any] = {"platform": choices.platform(platform), "shop": shop.strip(), "order_id": order.strip(),
                           "reason": choices.reason(reason), "source": "cli"}
    if note:
        job["note"] = note
    try:
        if item:
            job["items"] = [json.loads(i) for i in item]
    except json.JSONDecodeError as exc:
        raise fail(f"--item must be JSON: {exc}", 2) from None
    if option:
        if bad := [o for o in option if "=" not in o]:
            raise Refused(f"--option takes key=value, not {bad[0]!r}")
        job["options"] = {k: _json_value(v) for k, _, v in (o.partition("=") for o in option)}
    return job


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@job_app.command("show")
def job_show(job_id: Annotated[str, typer.Argument(help="a job id, or its first characters")],
             as_json: JsonOpt = False) -> None:
    """A job's state, steps, attempts, last error and latest events."""
    record = client().job(job_id)
    if as_json:
        emit_json(record.to_dict())
        return
    _print_summary(record)
    for name, step in record.steps.items():
        head = [f"  step {name}", when(step.get("at")), f"request_id={step.get('request_id') or '-'}"]
        out.print(entry(head, json.dumps(step.get("data"), ensure_ascii=False), indent=4), highlight=False)
    for event in record.events[-10:]:
        detail = " ".join(f"{k}={_value(v)}" for k, v in event.items() if k not in ("at", "event"))
        out.print(escape(f"  {when(event.get('at'))} {event.get('event')} {detail}".rstrip()), highlight=False)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _print_summary(record: JobRecord) -> None:
    job = record.job
    out.print(f"[bold]job {record.job_id}[/bold]  state=[bold]{record.state}[/bold]  attempts={record.attempts}"
              f"  runs={record.runs}" + (f"  attribution={record.attribution}" if record.attribution else ""),
              highlight=False)
    if job.get("client_ref"):
        out.print(escape(f"  client_ref={job['client_ref']}"))
    out.print(escape(f"  {job.get('platform')}/{job.get('shop')} order={job.get('order_id')} "
                     f"reason={job.get('reason')} campaign={job.get('campaign_id') or '-'}"), highlight=False)
    out.print(f"  created {when(record.created_at)}  finished {when(record.finished_at)}"
              f"  due {when(record.due_at)}", highlight=False)
    if record.reject_reason:
        out.print(escape(f"  rejected: {record.reject_reason}"))
    if record.last_error:
        e = record.last_error
        out.print(escape(f"  last error: {e.get('error_class')} [{e.get('code')}] {e.get('message')}"
                         f" request_id={e.get('request_id')}"), highlight=False)


@job_app.command("find")
def job_find(key: Annotated[str | None, typer.Option(help="the idempotency key it was submitted under")] = None,
             client_ref: Annotated[str | None, typer.Option("--client-ref", "--ref",
                                                            help="the producer's own reference")] = None,
             order: Annotated[str | None, typer.Option(help="the order id (whole-order jobs)")] = None,
             platform: Annotated[str | None, typer.Option(help="with --order: only this platform")] = None,
             shop: Annotated[str | None, typer.Option(help="with --order: only this shop")] = None,
             as_json: JsonOpt = False) -> None:
    """Was order X cancelled? Find a job by its order, its idempotency key or the producer's ``--client-ref``."""
    if sum(x is not None for x in (key, client_ref, order)) != 1:
        raise fail("give one of --order, --key or --client-ref", 2)
    platform = choices.platform(platform)
    if order is not None:
        records = client().find_order(order, platform=platform, shop=shop)
    else:
        found = client().find(key=key, client_ref=client_ref)
        records = [found] if found is not None else []
    if not records:
        what = f"order {order!r}" if order is not None else \
            f"{'idempotency key' if key is not None else 'client_ref'} {key if key is not None else client_ref!r}"
        raise fail(f"no job for {what}")
    if as_json:
        emit_json([r.to_dict() for r in records] if order is not None else records[0].to_dict())
        return
    for record in records:
        _print_summary(record)


@job_app.command("rejected")
def job_rejected(limit: Annotated[int, typer.Option(help="at most this many", min=1)] = 20,
                 as_json: JsonOpt = False) -> None:
    """Jobs rejected at intake or by the task, newest first, with their reasons."""
    records = client().rejected(limit)
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    ids = short_ids(r.job_id for r in records)
    grid = table(Col("job", fixed=True), Col("when", fixed=True), "reason", "job as received")
    for record in records:
        grid.add_row(ids[record.job_id], when(record.created_at), escape(cut(record.reject_reason, 80)),
                     escape(cut(json.dumps(record.job, ensure_ascii=False), 60)))
    out.print(grid)
    out.print(f"{len(records)} shown")
