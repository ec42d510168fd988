"""``cancelq campaign``: run a file of orders as one campaign, follow it, pause, resume or abort it, redo its
failures, and write its per-row report."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape

from cancelq.campaigns.budgets import campaign_budgets
from cancelq.campaigns.files import CampaignFileError, read_rows
from cancelq.campaigns.intake import IntakeResult
from cancelq.campaigns.report import write_csv
from cancelq.campaigns.store import Campaign, CampaignError, CampaignNotFound
from cancelq.cli import choices, common
from cancelq.cli.common import err, fail, out
from cancelq.cli.errors import Failed, Refused, TimedOut
from cancelq.cli.progress import after_live, campaign_view, preview_line
from cancelq.cli.render import Col, counts_line, emit_json, table
from cancelq.cli.webhooks import print_secret
from cancelq.client import CancelQ
from cancelq.delivery.endpoints import EndpointError
from cancelq.delivery.service import endpoints_of

campaign_app = typer.Typer(no_args_is_help=True, help="Bulk campaigns: a file of orders in, a per-row report out.")
SHOWN_INVALID = 20
RATE_WINDOW_S = 15.0


def _get(client: CancelQ, campaign_id: str) -> Campaign:
    try:
        return client.campaign(campaign_id)
    except CampaignNotFound as exc:
        raise fail(str(exc)) from None


@campaign_app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="CSV (with a header) or JSONL", exists=True, dir_okay=False)],
    platform: Annotated[str | None, typer.Option(help="for rows without a platform")] = None,
    shop: Annotated[str | None, typer.Option(help="for rows without a shop")] = None,
    reason: Annotated[str | None, typer.Option(help="for rows without a reason, e.g. OUT_OF_STOCK or 'out of stock'")
                      ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name)")] = None,
    campaign_id: Annotated[str | None, typer.Option("--campaign-id", help="resume this campaign, or name a new one")
                           ] = None,
    strict: Annotated[bool, typer.Option(help="send nothing if any row is invalid")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="read each order and report what a cancel would do; "
                                                            "no write call is sent")] = False,
    max_rate: Annotated[float | None, typer.Option(help="at most this many cancels per second for this campaign")
                        ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST the campaign.finished event here (signed, retried); "
                                                     "its secret is printed once")] = None,
    batch: Annotated[int, typer.Option(help="rows per pipelined batch", min=1, max=10_000)] = 500,
    watch: Annotated[bool, typer.Option(help="follow the campaign to its end with a progress bar")] = False,
    wait: Annotated[float, typer.Option(help="seconds to wait for the end (exit 4 if not finished in time)")] = 0.0,
    fail_on_dead: Annotated[bool, typer.Option("--fail-on-dead", help="with --watch or --wait: exit 1 when a job "
                                               "ended dead, rejected or aborted (as `submit --wait` does)")] = False,
) -> None:
    """Send every valid row of FILE as a cancel job of one campaign; invalid rows are listed with their line."""
    platform, reason = choices.platform(platform), choices.reason(reason)
    _refuse_empty(file, fmt)
    client = common.client()
    try:
        with err.status("reading the file...") as status:
            result = client.run_campaign(
                file, platform=platform, shop=shop, reason=reason, campaign_id=campaign_id, dry_run=dry_run,
                strict=strict, max_rate=max_rate, webhook=webhook, fmt=fmt, batch_size=batch,
                on_batch=lambda r: status.update(f"{r.read:,} rows read"))
    except EndpointError as exc:
        raise fail(f"--webhook: {exc}", 2) from None
    except (CampaignFileError, CampaignError) as exc:
        raise fail(str(exc), 2) from None
    _after_intake(client, result, watch=watch, wait=wait, fail_on_dead=fail_on_dead)


def _refuse_empty(file: Path, fmt: str | None) -> None:
    """A file with no row is refused before a campaign is made."""
    try:
        first = next(iter(read_rows(file, fmt)), None)
    except CampaignFileError as exc:
        raise Refused(str(exc)) from None
    if first is None:
        raise Refused(f"{file} has no rows; no campaign was made",
                      hint="a CSV needs a header line and one line per order; a JSONL file one object per line")


def _after_intake(client: CancelQ, result: IntakeResult, *, watch: bool, wait: float, fail_on_dead: bool) -> None:
    """What ``campaign run`` says once the file is in: invalid rows, counts, the webhook's secret, then the end."""
    _print_invalid(result)
    if result.refused:
        raise fail(f"--strict: {result.invalid_count} invalid row(s) in {result.read} read; nothing was sent", 2)
    _print_intake(_get(client, result.campaign_id), result)
    if result.webhook_endpoint:
        print_secret(endpoints_of(client.rt).get(result.webhook_endpoint), "  its webhook endpoint")
    if watch or wait > 0:
        campaign = follow(client, result.campaign_id, live=watch, timeout_s=wait or None)
        _print_end(client, campaign)
        if not campaign.finished:
            raise TimedOut(f"campaign {campaign.id} is still {campaign.status} after {wait:g}s",
                           hint=f"cancelq campaign status {campaign.id} --watch")
        if fail_on_dead:
            _fail_on_dead(campaign)


FAILED_STATES = ("dead", "rejected", "aborted")


def _fail_on_dead(campaign: Campaign) -> None:
    failed = [(name, campaign.counts[name]) for name in FAILED_STATES if campaign.counts[name]]
    if failed:
        raise Failed(f"campaign {campaign.id} finished with {counts_line(failed)}",
                     hint=f"cancelq campaign report {campaign.id}; cancelq campaign redo-failed {campaign.id}")


def _print_end(client: CancelQ, campaign: Campaign) -> None:
    """A dry run's findings (would cancel, ...), then the shops' budgets."""
    if campaign.dry_run and campaign.finished:
        out.print(preview_line(previews(client, campaign.id)), highlight=False)
    _print_budgets(client, campaign)


def previews(client: CancelQ, campaign_id: str) -> dict[str, int]:
    """A dry run's answers counted from its report: would cancel, would accept a buyer's request, ..."""
    counts: dict[str, int] = {}
    for row in client.campaign_report(campaign_id):
        if row.preview:
            counts[row.preview] = counts.get(row.preview, 0) + 1
    return counts


def _print_budgets(client: CancelQ, campaign: Campaign) -> None:
    """Each shop's cancellation budget as the campaign meets it (nothing when no shop of it has one)."""
    for b in campaign_budgets(client.rt, campaign.id, dry_run=campaign.dry_run):
        verb = "would use" if campaign.dry_run else "still to use"
        out.print(f"  budget {b.shop}: {b.used}/{b.max} per {b.window_s:g}s used; this campaign {verb} "
                  f"{b.counted}: {b.would_go} go now, {b.would_wait} would wait for room")


def _print_invalid(result: IntakeResult) -> None:
    for line, why in result.invalid[:SHOWN_INVALID]:
        err.print(f"[yellow]line {line}:[/yellow] {escape(why)}", highlight=False, markup=True)
    more = result.invalid_count - min(len(result.invalid), SHOWN_INVALID)
    if more > 0:
        where = "" if result.refused else f" (all in `cancelq campaign report {result.campaign_id}`)"
        err.print(f"... and {more} more invalid row(s){where}")


def _print_intake(campaign: Campaign, result: IntakeResult) -> None:
    verb = "resumed" if result.resumed else "started"
    kind = " (dry run: nothing will be cancelled)" if campaign.dry_run else ""
    out.print(f"campaign [bold]{campaign.id}[/bold] {verb}{kind}")
    skipped = f", {result.skipped:,} already recorded" if result.skipped else ""
    out.print(f"  {result.read:,} rows read{skipped}: {result.sent:,} jobs sent, {result.invalid_count:,} invalid "
              f"({result.rows_per_s:,.0f} rows/s)")
    c = campaign.counts
    out.print(f"  campaign: {campaign.total:,} jobs, {c['duplicates']:,} rows already submitted, "
              f"{c['invalid']:,} invalid rows")
    out.print(f"  follow it: cancelq campaign status {campaign.id} --watch")


def render(campaign: Campaign, rate_per_s: float | None = None) -> Group:
    """The progress bar (done of total, rate, ETA) and the counters."""
    return campaign_view(campaign, rate_per_s)


def follow(client: CancelQ, campaign_id: str, *, live: bool, timeout_s: float | None = None,
           poll_s: float = 0.5) -> Campaign:
    """Poll the campaign until it finishes (or ``timeout_s``); with ``live``, redraw the bar meanwhile."""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    samples: deque[tuple[float, int]] = deque()
    campaign = _get(client, campaign_id)
    with Live(render(campaign), console=out, refresh_per_second=4, transient=False) if live else _Quiet() as view:
        while not campaign.finished and (deadline is None or time.monotonic() < deadline):
            time.sleep(poll_s)
            campaign = _get(client, campaign_id)
            view.update(render(campaign, _window_rate(samples, campaign.done)))
    if live:
        after_live(out)
    return campaign


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, renderable: object) -> None:
        return None


def _window_rate(samples: deque[tuple[float, int]], done: int) -> float | None:
    now = time.monotonic()
    samples.append((now, done))
    while samples and now - samples[0][0] > RATE_WINDOW_S:
        samples.popleft()
    first_at, first_done = samples[0]
    return (done - first_done) / (now - first_at) if now - first_at >= 1.0 else None


@campaign_app.command("status")
def status(campaign_id: str,
           watch: Annotated[bool, typer.Option("--watch", help="follow it to the end")] = False,
           as_json: Annotated[bool, typer.Option("--json", help="the counters as JSON")] = False) -> None:
    """A campaign's progress: bar, rate, ETA and counters (a finished dry run: what it found)."""
    client = common.client()
    campaign = _get(client, campaign_id)
    if as_json:
        budgets = [b.to_dict() for b in campaign_budgets(client.rt, campaign.id, dry_run=campaign.dry_run)]
        found = {"previews": previews(client, campaign.id)} if campaign.dry_run else {}
        emit_json({**campaign.summary(), **found, "budgets": budgets})
        return
    if watch:
        campaign = follow(client, campaign_id, live=True)
    else:
        out.print(render(campaign))
    _print_end(client, campaign)


@campaign_app.command("list")
def list_campaigns(limit: Annotated[int, typer.Option(help="how many, newest first", min=1)] = 20,
                   as_json: Annotated[bool, typer.Option("--json", help="as JSON (every counter)")] = False) -> None:
    """Recent campaigns: status, start, progress and outcomes (a dry run's previews apart from ok)."""
    campaigns = common.client().campaigns(limit)
    if as_json:
        emit_json([c.summary() for c in campaigns])
        return
    grid = table(Col("campaign", fixed=True), Col("status", fixed=True), Col("started", fixed=True),
                 Col("done/jobs", fixed=True, right=True), "outcomes")
    for c in campaigns:
        n = c.counts
        outcomes = [("ok", n["succeeded"]), ("already", n["already_cancelled"]), ("dead", n["dead"]),
                    ("rejected", n["rejected"]), ("aborted", n["aborted"]), ("previewed", n["previewed"]),
                    ("invalid", n["invalid"]), ("dup", n["duplicates"])]
        shown = [(k, v) for k, v in outcomes if v or k in ("ok", "dead")]
        grid.add_row(c.id, c.status + ("\ndry run" if c.dry_run else ""), c.summary()["created_at"][:16] + "Z",
                     f"{c.done:,}/{c.total:,}", "  ".join(f"{k}={v:,}" for k, v in shown))
    out.print(grid)
    out.print(f"{len(campaigns)} shown")


@campaign_app.command("pause")
def pause(campaign_id: str, reason: Annotated[str, typer.Option(help="for the record")] = "") -> None:
    """Hold the campaign's write calls on every worker; its jobs wait and continue on resume."""
    campaign = _control(lambda client: client.pause_campaign(campaign_id, reason))
    out.print(f"campaign {campaign.id} paused")


@campaign_app.command("resume")
def resume(campaign_id: str) -> None:
    """Let a paused campaign's jobs write again."""
    campaign = _control(lambda client: client.resume_campaign(campaign_id))
    out.print(f"campaign {campaign.id} resumed")


@campaign_app.command("abort")
def abort(campaign_id: str, reason: Annotated[str, typer.Option(help="for the record")] = "",
          yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Stop the campaign for good: jobs whose write was not sent end `aborted`; writes in flight finish."""
    if not yes and not typer.confirm(f"Abort campaign {campaign_id}? Its unsent cancels will never be sent."):
        raise typer.Exit(1)
    campaign = _control(lambda client: client.abort_campaign(campaign_id, reason))
    pending = campaign.total - campaign.done
    out.print(f"campaign {campaign.id} aborted: {pending:,} unfinished job(s) end `aborted` unless their write "
              f"is already in flight (the report says which)")


def _control(action: Callable[[CancelQ], Campaign]) -> Campaign:
    try:
        campaign: Campaign = action(common.client())
    except CampaignNotFound as exc:
        raise fail(str(exc)) from None
    except CampaignError as exc:
        raise fail(str(exc), 2) from None
    return campaign


@campaign_app.command("redo-failed")
def redo_failed(campaign_id: str) -> None:
    """Replay the campaign's dead letters (after the cause is fixed); already-cancelled orders end so."""
    client = common.client()
    _get(client, campaign_id)
    try:
        handles = client.redo_failed(campaign_id)
    except CampaignError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"{len(handles)} dead job(s) of campaign {campaign_id} sent again")


@campaign_app.command("report")
def report(campaign_id: str,
           output: Annotated[Path | None, typer.Option("--out", help="CSV file (default: stdout)")] = None,
           outcome: Annotated[str | None, typer.Option(help=f"only rows of this outcome: {', '.join(choices.OUTCOMES)}")
                              ] = None) -> None:
    """One CSV row per input row: outcome, platform code and message, request id, attempts, times."""
    wanted = choices.outcome(outcome)
    client = common.client()
    _get(client, campaign_id)
    rows = (row for row in client.campaign_report(campaign_id) if wanted is None or row.outcome == wanted)
    if output is None:
        write_csv(rows, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = write_csv(rows, handle)
    out.print(f"{count:,} rows written to {output}")


__all__ = ["campaign_app", "follow", "render"]
