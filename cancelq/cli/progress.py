"""Progress as ``campaign run --watch``, ``campaign status`` and the demo draw it: the numbers on their own lines,
so that a narrow terminal shortens the bar, never a count.

Counts are ``name=N`` words in a text that wraps at spaces: a line may break between two counts, never inside one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cancelq.campaigns.store import Campaign

BAR_WIDTH = 40
PREVIEW_WORDS = {"would_cancel": "would cancel", "would_accept_buyer_request": "would accept a buyer's request",
                 "already_cancelled": "already cancelled", "cannot_cancel": "cannot cancel"}
"""A dry run's findings, as the summary line says them (the keys are the report's ``preview`` values)."""


def after_live(console: Console) -> None:
    """End the line a ``Live`` display leaves open when the output is not a terminal (a file, a pipe)."""
    if not console.is_terminal:
        console.line()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def counts_text(counts: Iterable[tuple[str, int]]) -> Text:
    """``name=N`` words separated by two spaces, wrapping only between words."""
    return Text("  ".join(f"{name}={value:,}" for name, value in counts), overflow="fold")


def bar(done: int, total: int) -> Table:
    """The bar on a line of its own (a bare ``ProgressBar`` ends without one)."""
    total = max(total, 1)
    line = Table.grid()
    line.add_row(ProgressBar(total=total, completed=min(done, total), width=BAR_WIDTH))
    return line


def campaign_counts(campaign: Campaign) -> list[tuple[str, int]]:
    """The counters worth showing: every state with a job in it (``previewed`` apart from ``succeeded``), then the
    rows refused at intake and those already submitted."""
    c = campaign.counts
    states = ("queued", "running", "waiting", "succeeded", "already_cancelled", "dead", "rejected", "aborted",
              "previewed")
    shown = [(name, c[name]) for name in states if c[name] or name in ("succeeded", "dead")]
    return [*shown, ("invalid_rows", c["invalid"]), ("duplicate_rows", c["duplicates"])]


def campaign_view(campaign: Campaign, rate_per_s: float | None = None) -> Group:
    """The bar, then done of total, percent, rate, ETA and elapsed, then the counters."""
    rate = campaign.rate_per_s if rate_per_s is None else rate_per_s
    total = max(campaign.total, 1)
    kind = " (dry run)" if campaign.dry_run else ""
    head = Text(f"{campaign.id} {campaign.status}{kind}", style="bold", overflow="fold")
    numbers = Text(f"{campaign.done:,}/{campaign.total:,} done  {100 * campaign.done / total:.0f}%  "
                   f"{rate:,.1f} jobs/s  ETA {duration(campaign.eta_s(rate))}  "
                   f"elapsed {duration(campaign.elapsed_s)}", overflow="fold")
    return Group(head, bar(campaign.done, campaign.total), numbers, counts_text(campaign_counts(campaign)))


def preview_line(previews: Mapping[str, int]) -> str:
    """A dry run's summary: ``would cancel 18, would accept a buyer's request 1, ...``."""
    return "dry run: " + ", ".join(f"{words} {previews.get(key, 0):,}" for key, words in PREVIEW_WORDS.items())


def demo_view(done: int, total: int, elapsed_s: float, counts: Mapping[str, int]) -> Group:
    """The demo's progress: the bar, ``done/total`` and elapsed on their own line, then the jobs per state."""
    numbers = Text(f"cancelling {done:,}/{total:,}  {100 * done / max(total, 1):.0f}%  elapsed "
                   f"{duration(elapsed_s)}", overflow="fold")
    return Group(bar(done, total), numbers, counts_text(sorted(counts.items())))


__all__ = ["after_live", "campaign_counts", "campaign_view", "counts_text", "demo_view", "duration", "preview_line"]
