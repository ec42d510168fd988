"""The dead-letter store: jobs that cannot succeed, kept for an operator to inspect and replay.

Bounded by count and by age. An entry holds the job, the error (class, platform
code, message, request id), attempts, the step history and the first and last
failure times: never a credential (jobs name shops, errors are scrubbed at the
platform boundary).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from cancelq.core import keys
from cancelq.jobs import deadindex
from cancelq.jobs.deadindex import DeadPage
from cancelq.jobs.ledger import DeadLetterWrite, JobRecord, now_ms

KINDS = ("permanent", "exhausted", "poison")


@dataclass(frozen=True)
class DeadFilter:
    platform: str | None = None
    shop: str | None = None
    code: str | None = None
    campaign: str | None = None
    kind: str | None = None
    since_ms: int | None = None

    def matches(self, entry: dict[str, Any]) -> bool:
        job, error = entry.get("job", {}), entry.get("error") or {}
        checks = (
            (self.platform, job.get("platform")), (self.shop, job.get("shop")), (self.code, error.get("code")),
            (self.campaign, job.get("campaign_id")), (self.kind, entry.get("kind")),
        )
        if any(want is not None and want != have for want, have in checks):
            return False
        return self.since_ms is None or entry.get("last_failure_at", 0) >= self.since_ms

    def dimensions(self) -> dict[str, str]:
        """The filter's values that an index answers (all but ``since_ms``)."""
        wanted = {"kind": self.kind, "platform": self.platform, "shop": self.shop, "code": self.code,
                  "campaign": self.campaign}
        return {name: value for name, value in wanted.items() if value}


class DeadLetters:
    def __init__(self, client: redis.Redis, *, max_entries: int = 100_000, max_age_ms: int = 30 * 86400_000) -> None:
        self.r = client
        self.max_entries = max_entries
        self.max_age_ms = max_age_ms

    @staticmethod
    def entry_for(record: JobRecord, error: dict[str, Any], kind: str) -> dict[str, Any]:
        failures = [e["at"] for e in record.events if e.get("event") in ("retry", "dead", "error")]
        now = now_ms()
        return {
            "job_id": record.job_id, "kind": kind, "job": record.job, "error": error,
            "attempts": record.attempts, "steps": record.steps, "events": record.events,
            "first_failure_at": min(failures, default=now), "last_failure_at": now,
        }

    def write_for(self, entry: dict[str, Any]) -> DeadLetterWrite:
        """The entry as the ledger's ``finish`` writes it, in the same script as the job's final state."""
        return DeadLetterWrite(json.dumps(entry, separators=(",", ":"), default=str), self.max_age_ms,
                               now_ms() - self.max_age_ms, index_keys=deadindex.index_keys(entry),
                               search=deadindex.search_members(entry))

    def trim(self) -> int:
        """Drop entries beyond the count and age bounds; returns how many went."""
        cutoff = now_ms() - self.max_age_ms
        old = [str(i) for i in self.r.zrangebyscore(keys.DLQ, "-inf", cutoff)]
        excess = int(self.r.zcard(keys.DLQ)) - len(old) - self.max_entries
        if excess > 0:
            old += [str(i) for i in self.r.zrange(keys.DLQ, len(old), len(old) + excess - 1)]
        if old:
            self.remove(old)
            self._sweep_indexes(cutoff)
        return len(old)

    def _sweep_indexes(self, cutoff_ms: int) -> None:
        """Drop index members older than the age bound (the script that writes an entry trims ``keys.DLQ``
        only; reads never see older members, this frees them), and forget the indexes left empty."""
        dims = [str(key) for key in self.r.smembers(keys.DLQ_DIMS)]
        pipe = self.r.pipeline(transaction=False)
        for key in dims:
            pipe.zremrangebyscore(key, "-inf", cutoff_ms)
            pipe.zcard(key)
        left = pipe.execute()[1::2]
        empty = [key for key, n in zip(dims, left, strict=True) if not int(n)]
        if empty:
            self.r.srem(keys.DLQ_DIMS, *empty)

    def size(self) -> int:
        return int(self.r.zcard(keys.DLQ))

    def ids_starting(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Dead-lettered job ids starting with ``prefix`` (at most ``limit``), by a ZSCAN: for people."""
        found: list[str] = []
        for member, _ in self.r.zscan_iter(keys.DLQ, match=keys.glob_literal(prefix) + "*", count=1000):
            found.append(str(member))
            if len(found) >= limit:
                break
        return sorted(found)

    def show(self, job_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.dlq_entry(job_id))
        return json.loads(raw) if raw else None

    def iter(self, where: DeadFilter | None = None, *, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Entries, newest first, that match the filter (read from the narrowest index it names)."""
        where = where or DeadFilter()
        source = self._narrowest(where)
        start = 0
        while True:
            ids = [str(i) for i in self.r.zrevrange(source, start, start + batch - 1)]
            if not ids:
                return
            for raw in self.r.mget([keys.dlq_entry(i) for i in ids]):
                if raw:
                    entry = json.loads(raw)
                    if where.matches(entry):
                        yield entry
            start += batch

    def _narrowest(self, where: DeadFilter) -> str:
        """The smallest index holding every match of the filter (``keys.DLQ`` before ``ensure_indexed``)."""
        wanted = [keys.dlq_index(name, value) for name, value in where.dimensions().items()]
        if not wanted or not self.r.exists(keys.DLQ_INDEXED):
            return keys.DLQ
        pipe = self.r.pipeline(transaction=False)
        for key in wanted:
            pipe.zcard(key)
        sizes = pipe.execute()
        return min(zip(sizes, wanted, strict=True))[1]

    def list(self, where: DeadFilter | None = None, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        for entry in self.iter(where):
            out.append(entry)
            if len(out) >= limit:
                break
        return out

    def remove(self, job_ids: Iterable[str]) -> int:
        ids = list(job_ids)
        if not ids:
            return 0
        gone = deadindex.load(self.r, ids)
        pipe = self.r.pipeline(transaction=False)
        pipe.zrem(keys.DLQ, *ids)
        pipe.delete(*(keys.dlq_entry(i) for i in ids))
        deadindex.unindex_entries(pipe, gone)
        return int(pipe.execute()[0])

    def page(self, where: DeadFilter | None = None, *, search: str = "", offset: int = 0,
             limit: int = 50) -> DeadPage:
        """One page of the entries matching the filter (and whose order id or client reference is ``search``,
        else starts with it, or whose job id it is), newest first, and how many match in all: read through the indexes,
        never the whole store (until ``ensure_indexed`` has run once: then by a scan)."""
        where = where or DeadFilter()
        if search:
            found = [e for e in deadindex.load(self.r, deadindex.search_ids(self.r, search)) if where.matches(e)]
            found.sort(key=lambda e: -int(e.get("last_failure_at") or 0))
            return DeadPage(found[offset:offset + limit], len(found), offset, limit)
        if where.dimensions() and not self.r.exists(keys.DLQ_INDEXED):
            scanned = list(self.iter(where))
            return DeadPage(scanned[offset:offset + limit], len(scanned), offset, limit)
        source = deadindex.source_key(self.r, where.dimensions())
        low = max(where.since_ms or 0, now_ms() - self.max_age_ms)
        pipe = self.r.pipeline(transaction=False)
        pipe.zcount(source, low, "+inf")
        pipe.zrevrangebyscore(source, "+inf", low, start=offset, num=limit)
        total, ids = pipe.execute()
        return DeadPage(deadindex.load(self.r, [str(i) for i in ids]), int(total), offset, limit)

    def counts(self) -> dict[str, dict[str, int]]:
        """Entries per kind, platform, shop, platform code and campaign, from the indexes."""
        return deadindex.counts(self.r, now_ms() - self.max_age_ms)

    def ensure_indexed(self, *, batch: int = 1000) -> int:
        """Index the entries written before the indexes existed, once (an upgrade step: a worker's start and
        the console's run it); returns how many it indexed, 0 once done."""
        self._sweep_indexes(now_ms() - self.max_age_ms)
        if self.r.exists(keys.DLQ_INDEXED):
            return 0
        done, start = 0, 0
        while True:
            indexed, ranked = deadindex.index_ranks(self.r, start, start + batch - 1)
            done += indexed
            if not ranked:
                break
            start += batch
        self.r.set(keys.DLQ_INDEXED, "1")
        return done

    def purge(self, where: DeadFilter | None = None) -> int:
        return self.remove([e["job_id"] for e in self.iter(where)])

    def export(self, where: DeadFilter | None = None, fmt: str = "jsonl") -> Iterator[str]:
        """Lines of CSV (with a header) or JSONL."""
        return export_lines(self.iter(where), fmt)


CSV_COLUMNS = ["job_id", "kind", "platform", "shop", "order_id", "reason", "campaign_id", "error_class", "code",
               "http_status", "message", "request_id", "attempts", "first_failure_at", "last_failure_at"]


def export_lines(entries: Iterable[dict[str, Any]], fmt: str = "jsonl") -> Iterator[str]:
    """Entries as lines of CSV (with a header) or JSONL."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}; use csv or jsonl")
    if fmt == "jsonl":
        for entry in entries:
            yield json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        return
    yield _csv_line(CSV_COLUMNS)
    for e in entries:
        job, err = e.get("job", {}), e.get("error") or {}
        yield _csv_line([e["job_id"], e["kind"], job.get("platform"), job.get("shop"), job.get("order_id"),
                         job.get("reason"), job.get("campaign_id"), err.get("error_class"), err.get("code"),
                         err.get("http_status"), err.get("message"), err.get("request_id"), e.get("attempts"),
                         e.get("first_failure_at"), e.get("last_failure_at")])


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()
