"""A campaign's record as the store reads it: its counters, tallies, status and summary."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cancelq.jobs.ledger import now_ms

COUNTERS = ("total", "queued", "running", "waiting", "succeeded", "already_cancelled", "dead", "rejected",
            "aborted", "previewed")
"""``total`` counts the jobs this campaign sent; the others split them by state."""
TALLIES = ("done", "invalid", "duplicates")
"""``done``: jobs in a final state; ``invalid``: rows refused at intake; ``duplicates``: rows whose order was
already submitted (by an earlier line, or before the campaign), so nothing was sent for them."""
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class CampaignError(ValueError):
    """A campaign command that cannot be done as asked; the message says why."""


class CampaignNotFound(LookupError):
    pass


def new_campaign_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:8]}"


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _ms_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else ""


def webhook_host(url: str) -> str:
    """How a webhook is shown: its host only (its path or query may hold a token)."""
    return (urlsplit(url).hostname or "?") if url else ""


@dataclass(frozen=True)
class Campaign:
    """A campaign as its record says now. ``counts`` holds every counter and tally by name."""

    id: str
    stored_status: str
    counts: dict[str, int]
    created_at: int
    intake_done_at: int | None = None
    finished_at: int | None = None
    dry_run: bool = False
    max_rate: float | None = None
    webhook: str = field(default="", repr=False)
    source: str = ""
    lines_done: int = 0
    round: int = 1
    reason: str = ""

    @classmethod
    def from_hash(cls, campaign_id: str, h: dict[str, str]) -> Campaign:
        return cls(
            id=campaign_id, stored_status=h.get("status", "running"),
            counts={name: _int(h.get(name)) for name in (*COUNTERS, *TALLIES)},
            created_at=_int(h.get("created_at")), intake_done_at=_ms_or_none(h.get("intake_done_at")),
            finished_at=_ms_or_none(h.get("finished_at")), dry_run=h.get("dry_run") == "1",
            max_rate=float(h["max_rate"]) if h.get("max_rate") else None, webhook=h.get("webhook", ""),
            source=h.get("source", ""), lines_done=_int(h.get("lines_done")), round=_int(h.get("round")) or 1,
            reason=h.get("status_reason", ""),
        )

    @property
    def status(self) -> str:
        """intake, running, paused, aborting, aborted or finished."""
        if self.finished_at:
            return "aborted" if self.stored_status == "aborted" else "finished"
        if self.stored_status == "aborted":
            return "aborting"
        if self.stored_status == "paused":
            return "paused"
        return "running" if self.intake_done_at else "intake"

    @property
    def total(self) -> int:
        return self.counts["total"]

    @property
    def done(self) -> int:
        return self.counts["done"]

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at or now_ms()
        return max(0.0, (end - self.created_at) / 1000)

    @property
    def rate_per_s(self) -> float:
        """Jobs finished per second since the campaign started."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def eta_s(self, rate_per_s: float | None = None) -> float | None:
        rate = self.rate_per_s if rate_per_s is None else rate_per_s
        if self.finished:
            return 0.0
        if not self.intake_done_at or rate <= 0:
            return None
        return (self.total - self.done) / rate

    def summary(self) -> dict[str, Any]:
        """What the completion announcement and ``status --json`` say (no webhook URL: it may hold a token)."""
        return {
            "campaign_id": self.id, "status": self.status, "dry_run": self.dry_run, "round": self.round,
            "source": self.source, **self.counts, "max_rate": self.max_rate, "webhook": webhook_host(self.webhook),
            "created_at": _iso(self.created_at), "intake_done_at": _iso(self.intake_done_at),
            "finished_at": _iso(self.finished_at), "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 3),
        }


__all__ = ["COUNTERS", "ID_PATTERN", "TALLIES", "Campaign", "CampaignError", "CampaignNotFound", "new_campaign_id",
           "webhook_host"]
