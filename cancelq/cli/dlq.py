"""``cancelq dlq``: the dead-letter store: list, show, replay, purge, export."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from cancelq.cli.common import client, fail, out, when
from cancelq.client import JobHandle, JobNotFound
from cancelq.jobs.deadletters import DeadFilter

dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter store: list, show, replay, purge, export.")

PlatformOpt = Annotated[str | None, typer.Option(help="only this platform")]
ShopOpt = Annotated[str | None, typer.Option(help="only this shop")]
CodeOpt = Annotated[str | None, typer.Option(help="only this platform error code")]
CampaignOpt = Annotated[str | None, typer.Option(help="only this campaign")]
KindOpt = Annotated[str | None, typer.Option(help="permanent, exhausted or poison")]
SinceOpt = Annotated[str | None, typer.Option(help="dead-lettered at or after (ISO, UTC)")]


def _filter(platform: str | None, shop: str | None, code: str | None, campaign: str | None, kind: str | None,
            since: str | None) -> DeadFilter:
    since_ms = None
    if since:
        try:
            since_ms = int(datetime.fromisoformat(since).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            raise fail(f"--since takes an ISO date or time, e.g. 2026-11-23T10:00, not {since!r}", 2) from None
    return DeadFilter(platform, shop, code, campaign, kind, since_ms)


@dlq_app.command("list")
def dlq_list(platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
             kind: KindOpt = None, since: SinceOpt = None, limit: int = 50) -> None:
    """Dead letters, newest first."""
    entries = client().dead_letters(_filter(platform, shop, code, campaign, kind, since), limit)
    table = Table("kind", "platform/shop", "order", "code", "message", "tries", "last failure")
    table.columns.insert(0, Column("job", no_wrap=True))
    for e in entries:
        job, error = e["job"], e.get("error") or {}
        table.add_row(e["job_id"], e["kind"], f"{job.get('platform')}/{job.get('shop')}", str(job.get("order_id")),
                      str(error.get("code") or error.get("error_class")), str(error.get("message"))[:50],
                      str(e.get("attempts")), when(e.get("last_failure_at")))
    out.print(table)
    out.print(f"{len(entries)} shown")


@dlq_app.command("show")
def dlq_show(job_id: Annotated[str, typer.Argument(help="a job id, or its first characters")]) -> None:
    """One dead letter as JSON: the job, the error with the platform's code, message and request id."""
    try:
        entry = client().dead_letter(job_id)
    except JobNotFound as exc:
        raise fail(str(exc)) from None
    if entry is None:
        raise fail(f"no dead letter {job_id}")
    out.print_json(data=entry)


@dlq_app.command("replay")
def dlq_replay(job_id: Annotated[str | None, typer.Argument()] = None,
               all_: Annotated[bool, typer.Option("--all", help="every entry matching the filters")] = False,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
               kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Send dead-lettered jobs again (an order already cancelled meanwhile ends already_cancelled)."""
    cq = client()
    handles: list[JobHandle]
    if job_id and not all_:
        try:
            handles = [cq.replay(job_id)]
        except JobNotFound as exc:
            raise fail(str(exc)) from None
    elif all_:
        handles = cq.replay_all(_filter(platform, shop, code, campaign, kind, since))
    else:
        raise fail("name a job id, or --all (with filters)", 2)
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
        raise fail("no filter given: add --all to purge every dead letter", 2)
    if not yes and not typer.confirm("Delete the matching dead letters?"):
        raise typer.Exit(1)
    out.print(f"{client().purge_dead_letters(where)} purged")


@dlq_app.command("export")
def dlq_export(fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
               output: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None,
               campaign: CampaignOpt = None, kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Write dead letters as CSV or JSONL."""
    if fmt not in ("csv", "jsonl"):
        raise fail("--format is csv or jsonl", 2)
    lines = client().export_dead_letters(_filter(platform, shop, code, campaign, kind, since), fmt)
    if output is None:
        sys.stdout.writelines(lines)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = sum(1 for line in lines if handle.write(line) is not None)
    out.print(f"{count - (1 if fmt == 'csv' else 0)} entries written to {output}")
