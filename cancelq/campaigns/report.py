"""A campaign's per-row report: one row per input row, with its outcome read from the ledger.

Streamed in chunks of lines (the rows hash, then the jobs' records, one pipeline per chunk), so a
campaign of any size is reported in flat memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from typing import Any, TextIO

from cancelq.campaigns.store import store
from cancelq.core import keys
from cancelq.runtime import Runtime

JOB_FIELDS = ("state", "job", "steps", "last_error", "attempts", "created_at", "finished_at", "reject_reason")
PREVIEW_WORDS = {"cancellable": "would_cancel", "in_cancel": "would_accept_buyer_request",
                 "cancelled": "already_cancelled", "not_cancellable": "cannot_cancel"}
MESSAGES = {"succeeded": "cancelled", "already_cancelled": "already cancelled on the platform",
            "aborted": "not sent: the campaign was aborted before this job's write",
            "queued": "waiting for a worker", "running": "running"}


@dataclass(frozen=True)
class ReportRow:
    """One input row and what became of it. ``outcome`` is the job's state (``invalid``: refused at intake).

    ``note`` marks a row whose order another row or an earlier submission already had (one job, one cancel).
    ``preview``, ``raw_status`` and ``side_effects`` are a dry run's findings.
    """

    line: int
    platform: str
    shop: str
    order_id: str
    outcome: str
    preview: str = ""
    raw_status: str = ""
    side_effects: str = ""
    code: str = ""
    message: str = ""
    request_id: str = ""
    attempts: int | str = ""
    created_at: str = ""
    finished_at: str = ""
    job_id: str = ""
    note: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @property
    def counted(self) -> bool:
        """A row that stands for its own job in the campaign's counters (not invalid, not a duplicate)."""
        return bool(self.job_id) and not self.note

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(self.columns(), astuple(self), strict=True))


def report_rows(rt: Runtime, campaign_id: str, *, chunk: int = 1000) -> Iterator[ReportRow]:
    """Every row of the campaign in line order."""
    batch: list[tuple[int, str]] = []
    for row in store(rt).rows(campaign_id, chunk=chunk):
        batch.append(row)
        if len(batch) >= chunk:
            yield from _resolve(rt, batch)
            batch = []
    yield from _resolve(rt, batch)


def _resolve(rt: Runtime, batch: list[tuple[int, str]]) -> Iterator[ReportRow]:
    pipe = rt.redis.pipeline(transaction=False)
    for _, value in batch:
        if not value.startswith("{"):
            pipe.hmget(keys.job(value.lstrip("=~")), list(JOB_FIELDS))
    records = iter(pipe.execute() if len(pipe) else [])
    for line, value in batch:
        if value.startswith("{"):
            yield _invalid(line, json.loads(value))
        else:
            yield _from_job(line, value, dict(zip(JOB_FIELDS, next(records), strict=True)))


def _invalid(line: int, stored: dict[str, Any]) -> ReportRow:
    return ReportRow(line, str(stored.get("platform") or ""), str(stored.get("shop") or ""),
                     str(stored.get("order_id") or ""), "invalid", message=str(stored.get("reason", "")))


def _from_job(line: int, value: str, h: dict[str, str | None]) -> ReportRow:
    job_id = value.lstrip("=~")
    note = {"=": "duplicate: an earlier line has the same order (one job)",
            "~": "already submitted before this campaign (nothing sent again)"}.get(value[:1], "")
    if h["state"] is None:
        return ReportRow(line, "", "", "", "unknown", message="the job's record has expired", job_id=job_id,
                         note=note)
    job = json.loads(h["job"] or "{}")
    steps: dict[str, Any] = json.loads(h["steps"] or "{}")
    error: dict[str, Any] = json.loads(h["last_error"]) if h["last_error"] else {}
    state = str(h["state"])
    return ReportRow(line, str(job.get("platform", "")), str(job.get("shop", "")), str(job.get("order_id", "")),
                     state, attempts=int(h["attempts"] or 0), created_at=_iso(h["created_at"]),
                     finished_at=_iso(h["finished_at"]), job_id=job_id, note=note,
                     **_detail(state, steps, error, h["reject_reason"] or ""))


def _detail(state: str, steps: dict[str, Any], error: dict[str, Any], reject_reason: str) -> dict[str, Any]:
    if state == "previewed":
        data = steps.get("preview", {}).get("data", {})
        return {"preview": PREVIEW_WORDS.get(str(data.get("state")), str(data.get("state", ""))),
                "raw_status": str(data.get("raw_status", "")), "side_effects": "; ".join(data.get("side_effects", [])),
                "code": str(data.get("code") or ""), "message": str(data.get("message") or ""),
                "request_id": str(steps.get("preview", {}).get("request_id") or "")}
    if state == "rejected":
        return {"code": "rejected", "message": reject_reason}
    if state in ("dead", "waiting"):
        return {"code": str(error.get("code") or error.get("error_class") or ""),
                "message": str(error.get("message") or ""), "request_id": str(error.get("request_id") or "")}
    return {"message": MESSAGES.get(state, ""), "request_id": _last_request_id(steps)}


def _last_request_id(steps: dict[str, Any]) -> str:
    ids = [str(s.get("request_id")) for s in steps.values() if isinstance(s, dict) and s.get("request_id")]
    return ids[-1] if ids else ""


def _iso(ms: str | None) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="seconds") if ms else ""


def write_csv(rows: Iterable[ReportRow], handle: TextIO) -> int:
    """Write the rows as CSV with a header; returns how many rows."""
    writer = csv.writer(handle)
    writer.writerow(ReportRow.columns())
    count = 0
    for row in rows:
        writer.writerow(astuple(row))
        count += 1
    return count


__all__ = ["ReportRow", "report_rows", "write_csv"]
