"""cancelq: run workers, submit jobs, inspect the ledger, work the dead letters, run the sandbox and demo."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from cancelq.cli.campaign import campaign_app
from cancelq.cli.ops import register as register_ops
from cancelq.core.settings import get_settings
from cancelq.jobs.deadletters import DeadFilter

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
job_app = typer.Typer(no_args_is_help=True, help="Look at jobs in the ledger.")
dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter store: list, show, replay, purge, export.")
shops_app = typer.Typer(no_args_is_help=True, help="The shop registry (credentials never printed in full).")
app.add_typer(job_app, name="job")
app.add_typer(dlq_app, name="dlq")
app.add_typer(shops_app, name="shops")
app.add_typer(campaign_app, name="campaign")
out = Console()
err = Console(stderr=True)


def _client() -> Any:
    from cancelq.client import CancelQ

    return CancelQ()


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else "-"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def worker(
    pool: Annotated[str, typer.Option(help="threads for I/O-bound calls; prefork isolates")] = "threads",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="parallel jobs in this process")] = 32,
    loglevel: Annotated[str, typer.Option(help="Celery's own log level (job events are ours)")] = "warning",
    hostname: Annotated[str | None, typer.Option(help="worker name, e.g. cancelq1@%h")] = None,
) -> None:
    """Run a worker: consumes jobs, runs the delayed-job pump, sends task events for Flower."""
    from cancelq.worker.app import app as celery_app

    argv = ["worker", "--pool", pool, "--concurrency", str(concurrency), "--loglevel", loglevel,
            "--queues", get_settings().queue, "--without-gossip", "--without-mingle",
            "--task-events"]
    if hostname:
        argv += ["--hostname", hostname]
    celery_app.worker_main(argv)


@app.command()
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
    try:
        job: dict[str, Any] = {"platform": platform, "shop": shop, "order_id": order, "reason": reason.upper(),
                               "source": "cli"}
        if note:
            job["note"] = note
        if item:
            job["items"] = [json.loads(i) for i in item]
        if option:
            job["options"] = {k: _json_value(v) for k, _, v in (o.partition("=") for o in option)}
    except json.JSONDecodeError as exc:
        raise _fail(f"--item must be JSON: {exc}", 2) from None
    if idempotency_key:
        job["idempotency_key"] = idempotency_key
    handle = _client().submit(job, force=force, source="cli")
    if handle.rejected:
        raise _fail(f"job {handle.job_id} rejected: {handle.reason}", 2)
    verb = "submitted" if handle.created else f"already known ({handle.state}); nothing sent"
    out.print(f"job {handle.job_id} {verb}")
    if wait > 0:
        record = handle.wait(timeout_s=wait)
        out.print(f"job {handle.job_id} {record.state}")
        if record.state not in ("succeeded", "already_cancelled"):
            raise typer.Exit(1)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@job_app.command("show")
def job_show(job_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A job's state, steps, attempts and last error."""
    from cancelq.client import JobNotFound

    try:
        record = _client().job(job_id)
    except JobNotFound as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(data=record.to_dict())
        return
    job = record.job
    out.print(f"[bold]job {record.job_id}[/bold]  state=[bold]{record.state}[/bold]  attempts={record.attempts}"
              f"  runs={record.runs}")
    out.print(f"  {job.get('platform')}/{job.get('shop')} order={job.get('order_id')} reason={job.get('reason')}"
              f" campaign={job.get('campaign_id') or '-'}")
    out.print(f"  created {_when(record.created_at)}  finished {_when(record.finished_at)}"
              f"  due {_when(record.due_at)}")
    if record.reject_reason:
        out.print(escape(f"  rejected: {record.reject_reason}"))
    if record.last_error:
        e = record.last_error
        out.print(escape(f"  last error: {e.get('error_class')} [{e.get('code')}] {e.get('message')}"
                         f" request_id={e.get('request_id')}"))
    table = Table("step", "request id", "at", "data")
    for name, step in record.steps.items():
        table.add_row(name, str(step.get("request_id") or "-"), _when(step.get("at")),
                      json.dumps(step.get("data"))[:80])
    if record.steps:
        out.print(table)
    for event in record.events[-10:]:
        detail = {k: v for k, v in event.items() if k not in ("at", "event")}
        out.print(f"  {_when(event['at'])} {event['event']} {detail if detail else ''}")


@job_app.command("rejected")
def job_rejected(limit: int = 20) -> None:
    """Jobs rejected at intake or by the task, newest first, with their reasons."""
    table = Table(Column("job", no_wrap=True), "when", "reason", "job as received")
    for record in _client().rejected(limit):
        table.add_row(record.job_id, _when(record.created_at), record.reject_reason,
                      json.dumps(record.job)[:60])
    out.print(table)


def _filter(platform: str | None, shop: str | None, code: str | None, campaign: str | None, kind: str | None,
            since: str | None) -> DeadFilter:
    since_ms = None
    if since:
        try:
            since_ms = int(datetime.fromisoformat(since).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            raise _fail(f"--since takes an ISO date or time, e.g. 2026-11-23T10:00, not {since!r}", 2) from None
    return DeadFilter(platform, shop, code, campaign, kind, since_ms)


PlatformOpt = Annotated[str | None, typer.Option(help="only this platform")]
ShopOpt = Annotated[str | None, typer.Option(help="only this shop")]
CodeOpt = Annotated[str | None, typer.Option(help="only this platform error code")]
CampaignOpt = Annotated[str | None, typer.Option(help="only this campaign")]
KindOpt = Annotated[str | None, typer.Option(help="permanent, exhausted or poison")]
SinceOpt = Annotated[str | None, typer.Option(help="dead-lettered at or after (ISO, UTC)")]


@dlq_app.command("list")
def dlq_list(platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
             kind: KindOpt = None, since: SinceOpt = None, limit: int = 50) -> None:
    """Dead letters, newest first."""
    entries = _client().dead_letters(_filter(platform, shop, code, campaign, kind, since), limit)
    table = Table("kind", "platform/shop", "order", "code", "message", "tries", "last failure")
    table.columns.insert(0, Column("job", no_wrap=True))
    for e in entries:
        job, error = e["job"], e.get("error") or {}
        table.add_row(e["job_id"], e["kind"], f"{job.get('platform')}/{job.get('shop')}", str(job.get("order_id")),
                      str(error.get("code") or error.get("error_class")), str(error.get("message"))[:50],
                      str(e.get("attempts")), _when(e.get("last_failure_at")))
    out.print(table)
    out.print(f"{len(entries)} shown")


@dlq_app.command("show")
def dlq_show(job_id: str) -> None:
    entry = _client().dead_letter(job_id)
    if entry is None:
        raise _fail(f"no dead letter {job_id}")
    out.print_json(data=entry)


@dlq_app.command("replay")
def dlq_replay(job_id: Annotated[str | None, typer.Argument()] = None,
               all_: Annotated[bool, typer.Option("--all", help="every entry matching the filters")] = False,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
               kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Send dead-lettered jobs again (an order already cancelled meanwhile ends already_cancelled)."""
    from cancelq.client import JobNotFound

    client = _client()
    if job_id and not all_:
        try:
            handles = [client.replay(job_id)]
        except JobNotFound as exc:
            raise _fail(str(exc)) from None
    elif all_:
        handles = client.replay_all(_filter(platform, shop, code, campaign, kind, since))
    else:
        raise _fail("name a job id, or --all (with filters)", 2)
    for handle in handles:
        out.print(f"job {handle.job_id} replayed ({handle.state})")
    out.print(f"{len(handles)} replayed")


@dlq_app.command("purge")
def dlq_purge(all_: Annotated[bool, typer.Option("--all", help="required without filters")] = False,
              platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None,
              campaign: CampaignOpt = None, kind: KindOpt = None, since: SinceOpt = None,
              yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete dead letters (matching the filters, or --all)."""
    where = _filter(platform, shop, code, campaign, kind, since)
    if where == DeadFilter() and not all_:
        raise _fail("no filter given: add --all to purge every dead letter", 2)
    if not yes and not typer.confirm("Delete the matching dead letters?"):
        raise typer.Exit(1)
    out.print(f"{_client().purge_dead_letters(where)} purged")


@dlq_app.command("export")
def dlq_export(fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
               output: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None,
               campaign: CampaignOpt = None, kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Write dead letters as CSV or JSONL."""
    if fmt not in ("csv", "jsonl"):
        raise _fail("--format is csv or jsonl", 2)
    lines = _client().export_dead_letters(_filter(platform, shop, code, campaign, kind, since), fmt)
    if output is None:
        sys.stdout.writelines(lines)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = sum(1 for line in lines if handle.write(line) is not None)
    out.print(f"{count - (1 if fmt == 'csv' else 0)} entries written to {output}")


@shops_app.command("add")
def shops_add(platform: str, name: str,
              credentials: Annotated[str, typer.Option(help="JSON object, or @file.json")],
              base_url: Annotated[str | None, typer.Option(help="override the platform host (a sandbox)")] = None,
              ) -> None:
    """Add or replace a shop."""
    from cancelq.shops.registry import ShopError

    text = Path(credentials[1:]).read_text() if credentials.startswith("@") else credentials
    try:
        shop = _client().rt.shops.add(platform, name, json.loads(text), base_url)
    except (json.JSONDecodeError, ShopError) as exc:
        raise _fail(str(exc), 2) from None
    out.print(f"shop {shop.platform}/{shop.name} saved")


@shops_app.command("load")
def shops_load(path: Path) -> None:
    """Load shops from a JSON list or a TOML file of [[shops]]."""
    from cancelq.shops.registry import ShopError

    try:
        shops = _client().rt.shops.load_file(path)
    except (OSError, ValueError, ShopError) as exc:
        raise _fail(str(exc), 2) from None
    out.print(f"{len(shops)} shops loaded")


@shops_app.command("set-limit")
def shops_set_limit(platform: str, name: str, rate_per_s: Annotated[float, typer.Option("--rate")],
                    burst: Annotated[int, typer.Option("--burst")] = 1) -> None:
    """Override one shop's rate limit (fleet-wide)."""
    registry = _client().rt.shops
    shop = registry.get(platform, name)
    if shop is None:
        raise _fail(f"no {platform} shop {name!r}")
    limits = {"rate_per_s": rate_per_s, "burst": burst, "per_api": platform == "lazada"}
    registry.add(platform, name, shop.credentials, shop.base_url, limits)
    out.print(f"shop {platform}/{name}: {rate_per_s:g}/s, burst {burst}")


@shops_app.command("set-token")
def shops_set_token(platform: str, name: str,
                    access_token: Annotated[str, typer.Option(help="the new access token")],
                    refresh_token: Annotated[str | None, typer.Option(help="the new refresh token")] = None,
                    expires_in: Annotated[float | None, typer.Option(help="seconds the access token lives")] = None,
                    ) -> None:
    """Set a shop's tokens after the seller authorised again: its parked jobs resume."""
    import time

    registry = _client().rt.shops
    shop = registry.get(platform, name, fresh=True)
    if shop is None:
        raise _fail(f"no {platform} shop {name!r}")
    credentials = {**shop.credentials, "access_token": access_token}
    if refresh_token:
        credentials["refresh_token"] = refresh_token
    registry.set_tokens(shop, credentials, time.time() + expires_in if expires_in else None)
    out.print(f"shop {platform}/{name}: new tokens saved" + (" (was waiting for re-auth)" if shop.needs_reauth else ""))


@shops_app.command("list")
def shops_list() -> None:
    table = Table("platform", "name", "base url", "credentials")
    for shop in _client().rt.shops.all():
        m = shop.masked()
        table.add_row(shop.platform, shop.name, shop.base_url or "-", json.dumps(m["credentials"]))
    out.print(table)


@shops_app.command("show")
def shops_show(platform: str, name: str) -> None:
    shop = _client().rt.shops.get(platform, name)
    if shop is None:
        raise _fail(f"no {platform} shop {name!r}")
    out.print_json(data=shop.masked())


@shops_app.command("remove")
def shops_remove(platform: str, name: str) -> None:
    if not _client().rt.shops.remove(platform, name):
        raise _fail(f"no {platform} shop {name!r}")
    out.print(f"shop {platform}/{name} removed")


def _scope(platform: str | None, shop: str | None, campaign: str | None, all_: bool) -> str:
    from cancelq.gate.controls import ScopeError, scope_name

    chosen = [(k, v) for k, v in (("platform", platform), ("shop", shop), ("campaign", campaign)) if v]
    if all_ == bool(chosen) or len(chosen) > 1:
        raise _fail("name exactly one scope: --all, --platform P, --shop P/NAME or --campaign ID", 2)
    try:
        return scope_name("all") if all_ else scope_name(*chosen[0])
    except ScopeError as exc:
        raise _fail(str(exc), 2) from None


ScopePlatform = Annotated[str | None, typer.Option("--platform", help="a whole platform")]
ScopeShop = Annotated[str | None, typer.Option("--shop", help="one shop, as platform/name")]
ScopeCampaign = Annotated[str | None, typer.Option("--campaign", help="one campaign")]
ScopeAll = Annotated[bool, typer.Option("--all", help="everything")]


@app.command()
def pause(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
          all_: ScopeAll = False, reason: str = "") -> None:
    """Stop write calls for a scope on every worker; its jobs wait and continue on resume."""
    from cancelq.gate.controls import pause as do_pause

    scope = _scope(platform, shop, campaign, all_)
    do_pause(_client().rt.redis, scope, reason)
    out.print(f"paused {scope}")


@app.command()
def resume(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
           all_: ScopeAll = False) -> None:
    """Let a paused scope's jobs write again."""
    from cancelq.gate.controls import resume as do_resume

    scope = _scope(platform, shop, campaign, all_)
    if not do_resume(_client().rt.redis, scope):
        raise _fail(f"{scope} was not paused")
    out.print(f"resumed {scope}")


def _limit_view(limit: Any) -> dict[str, Any]:
    view = {"rate_per_s": limit.rate_per_s, "burst": limit.burst, "per_api": limit.per_api}
    return {**view, "app": _limit_view(limit.app)} if limit.app is not None else view


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Limits in use, cooldowns, open circuits, pauses, and the ledger's queues."""
    from cancelq.gate.controls import snapshot

    client = _client()
    snap = snapshot(client.rt.redis)
    counts = {**client.rt.ledger.counts(), "dead_letters": client.rt.dead_letters.size()}
    limits = {f"{s.platform}/{s.name}": _limit_view(client.rt.limit_for(s)) for s in client.rt.shops.all()}
    data = {"paused": snap.paused, "open_circuits": snap.open_circuits, "cooldowns_s": snap.cooldowns,
            "limits": limits, "ledger": counts}
    if as_json:
        out.print_json(data=data)
        return
    out.print(f"paused: {', '.join(snap.paused) or 'nothing'}")
    out.print(f"open circuits: {', '.join(snap.open_circuits) or 'none'}")
    out.print(f"cooldowns: {', '.join(f'{k} {v:.1f}s' for k, v in snap.cooldowns.items()) or 'none'}")
    table = Table("shop", "rate/s", "burst", "per API")
    for name, limit in limits.items():
        table.add_row(name, f"{limit['rate_per_s']:g}", str(limit["burst"]), "yes" if limit["per_api"] else "no")
    out.print(table)
    out.print(" ".join(f"{k}={v}" for k, v in counts.items()))


@app.command()
def sandbox(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the four platforms' sandbox on loopback (control API under /_sandbox/)."""
    from cancelq.sandbox.runner import serve

    serve(host, port)


@app.command()
def demo(orders: Annotated[int, typer.Option(help="orders across the four platforms")] = 300,
         concurrency: int = 32) -> None:
    """Embedded Valkey, the sandbox, a worker and a few hundred orders with realistic faults; then a summary."""
    from cancelq.cli.demo import run_demo

    raise typer.Exit(run_demo(orders=orders, concurrency=concurrency, console=out))


def main() -> None:
    app()


register_ops(app)


if __name__ == "__main__":
    main()
