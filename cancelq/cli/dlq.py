"""``cancelq dlq``: the dead-letter store: list, show, replay, purge, export."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from cancelq.cli import choices
from cancelq.cli.common import client, fail, out
from cancelq.cli.render import cut, emit_json, entry, iso, short_ids, with_iso_times
from cancelq.client import CancelQ, JobHandle
from cancelq.jobs.deadletters import KINDS, DeadFilter, export_lines

dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter store: list, show, replay, purge, export.")

PlatformOpt = Annotated[str | None, typer.Option(help="only this platform: shopee, lazada, shopline or shoplazza")]
ShopOpt = Annotated[str | None, typer.Option(help="only this shop")]
CodeOpt = Annotated[str | None, typer.Option(help="only this platform error code")]
CampaignOpt = Annotated[str | None, typer.Option(help="only this campaign")]
KindOpt = Annotated[str | None, typer.Option(help=f"only this kind: {', '.join(KINDS)}")]
SinceOpt = Annotated[str | None, typer.Option(help="dead-lettered at or after this ISO time (its offset is "
                                                   "honoured; UTC without one)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="as JSON (every value whole, times ISO 8601 UTC)")]
MESSAGE_WIDTH = 44
"""A message in the listing: cut at a word boundary (`dlq show` and `--json` give it whole)."""


def _filter(platform: str | None, shop: str | None, code: str | None, campaign: str | None, kind: str | None,
            since: str | None) -> DeadFilter:
    return DeadFilter(choices.platform(platform), shop, code, campaign, choices.kind(kind), choices.since_ms(since))


def _entries(cq: CancelQ, where: DeadFilter, order: str | None, limit: int) -> list[dict[str, Any]]:
    if order is None:
        return cq.dead_letters(where, limit)
    page = cq.rt.dead_letters.page(where, search=order, limit=max(limit, 100))
    return [e for e in page.entries if str(e.get("job", {}).get("order_id")) == order][:limit]


@dlq_app.command("list")
def dlq_list(platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
             kind: KindOpt = None, since: SinceOpt = None,
             order: Annotated[str | None, typer.Option(help="only the dead letters of this order id")] = None,
             limit: Annotated[int, typer.Option(help="at most this many", min=1)] = 50,
             as_json: JsonOpt = False) -> None:
    """Dead letters, newest first, two lines each: job id (its first characters, which every command accepts),
    kind, shop and order; when, attempts, the platform's code and message (whole in `dlq show` and --json)."""
    entries = _entries(client(), _filter(platform, shop, code, campaign, kind, since), order, limit)
    if as_json:
        emit_json(entries)
        return
    ids = short_ids(e["job_id"] for e in entries)
    for e in entries:
        job, error = e["job"], e.get("error") or {}
        code = error.get("code") or error.get("error_class")
        head = [ids[e["job_id"]], e["kind"], f"{job.get('platform')}/{job.get('shop')}", str(job.get("order_id"))]
        detail = (f"{iso(e.get('last_failure_at'))}  attempts={e.get('attempts')}  {code}: "
                  f"{cut(str(error.get('message') or ''), MESSAGE_WIDTH)}")
        out.print(entry(head, detail, indent=len(ids[e["job_id"]]) + 1), highlight=False)
    out.print(f"{len(entries)} shown" + ("" if entries or not _filtered(platform, shop, code, campaign, kind, since,
                                                                      order) else " (none match the filters)"))


def _filtered(*values: str | None) -> bool:
    return any(v is not None for v in values)


@dlq_app.command("show")
def dlq_show(job_id: Annotated[str, typer.Argument(help="a job id, or its first characters")],
             as_json: Annotated[bool, typer.Option("--json", help="(always JSON; accepted like everywhere)")] = True,
             ) -> None:
    """One dead letter as JSON: the job, the error with the platform's code, message and request id, its events."""
    del as_json
    entry = client().dead_letter(job_id)
    if entry is None:
        raise fail(f"no dead letter {job_id}")
    emit_json(entry)


@dlq_app.command("replay")
def dlq_replay(job_id: Annotated[str | None, typer.Argument(help="a job id, or its first characters")] = None,
               all_: Annotated[bool, typer.Option("--all", help="every entry matching the filters")] = False,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None, campaign: CampaignOpt = None,
               kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Send dead-lettered jobs again (an order already cancelled meanwhile ends already_cancelled)."""
    if bool(job_id) == all_:
        raise fail("name a job id, or --all (with filters)", 2)
    where = _filter(platform, shop, code, campaign, kind, since)
    cq = client()
    handles: list[JobHandle] = [cq.replay(job_id)] if job_id else cq.replay_all(where)
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


def _with_iso(entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (with_iso_times(e) for e in entries)


@dlq_app.command("export")
def dlq_export(fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
               output: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
               platform: PlatformOpt = None, shop: ShopOpt = None, code: CodeOpt = None,
               campaign: CampaignOpt = None, kind: KindOpt = None, since: SinceOpt = None) -> None:
    """Write dead letters as CSV or JSONL (times ISO 8601 UTC, as in every report)."""
    if fmt not in ("csv", "jsonl"):
        raise fail("--format is csv or jsonl", 2)
    where = _filter(platform, shop, code, campaign, kind, since)
    lines = export_lines(_with_iso(client().rt.dead_letters.iter(where)), fmt)
    if output is None:
        sys.stdout.writelines(lines)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = sum(1 for line in lines if handle.write(line) is not None)
    out.print(f"{count - (1 if fmt == 'csv' else 0)} entries written to {output}")
