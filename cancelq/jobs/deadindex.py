"""The dead letters' indexes: a page of one filter out of 100,000 entries without reading every entry.

One sorted set per kind, platform, shop, platform code and campaign (``keys.dlq_index``), scored like
``keys.DLQ`` by when the job was dead-lettered, written by the same script that writes the entry
(``lua/finish.lua``); a filter on several of them is their intersection (ZINTERSTORE, kept a few seconds
for paging). Order ids and producers' references go to one lexicographic set (``keys.DLQ_SEARCH``) for a
prefix search. An index member whose entry is gone (removed, expired) is skipped when read and dropped by
``DeadLetters.trim``; members older than the store's age bound are never read (every read starts at the
age cutoff).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from cancelq.core import keys

QUERY_TTL_S = 5
SEARCH_LIMIT = 1000


def index_values(entry: Mapping[str, Any]) -> dict[str, str]:
    """The entry's value in each dimension it has (no code, no campaign: not in those indexes)."""
    job, error = entry.get("job") or {}, entry.get("error") or {}
    values = {"kind": entry.get("kind"), "platform": job.get("platform"), "shop": job.get("shop"),
              "code": error.get("code"), "campaign": job.get("campaign_id")}
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def index_keys(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(keys.dlq_index(name, value) for name, value in index_values(entry).items())


def search_members(entry: Mapping[str, Any]) -> tuple[str, ...]:
    job, job_id = entry.get("job") or {}, str(entry.get("job_id"))
    found = (("o", job.get("order_id")), ("r", job.get("client_ref")))
    return tuple(f"{tag}:{value}\x00{job_id}" for tag, value in found if value not in (None, ""))


@dataclass(frozen=True)
class DeadPage:
    """One page of a dead-letter query, newest first; ``total``: how many match in all."""

    entries: list[dict[str, Any]]
    total: int
    offset: int = 0
    limit: int = 50
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def unindex_entries(pipe: redis.client.Pipeline, entries: Iterable[Mapping[str, Any]]) -> None:
    for entry in entries:
        job_id = str(entry["job_id"])
        for key in index_keys(entry):
            pipe.zrem(key, job_id)
        members = search_members(entry)
        if members:
            pipe.zrem(keys.DLQ_SEARCH, *members)


def source_key(client: redis.Redis, wanted: Mapping[str, str]) -> str:
    """The sorted set holding exactly the entries of these dimension values (``keys.DLQ`` for none)."""
    if not wanted:
        return keys.DLQ
    sets = sorted(keys.dlq_index(name, value) for name, value in wanted.items())
    if len(sets) == 1:
        return sets[0]
    target = keys.dlq_query(hashlib.sha256("\n".join(sets).encode()).hexdigest()[:24])
    if not client.exists(target):
        pipe = client.pipeline(transaction=True)
        pipe.zinterstore(target, sets, aggregate="MAX")
        pipe.expire(target, QUERY_TTL_S)
        pipe.execute()
    return target


def search_ids(client: redis.Redis, term: str) -> list[str]:
    """Job ids whose order id or client reference is ``term`` (else starts with it), and ``term`` as a job id."""
    ids = _search(client, term, exact=True) or _search(client, term, exact=False)
    if client.exists(keys.dlq_entry(term)):
        ids.append(term)
    return list(dict.fromkeys(ids))


def _search(client: redis.Redis, term: str, *, exact: bool) -> list[str]:
    ids: list[str] = []
    for tag in ("o", "r"):
        low = f"[{tag}:{term}{chr(0) if exact else ''}".encode()
        members = client.zrangebylex(keys.DLQ_SEARCH, low, low + b"\xff", start=0, num=SEARCH_LIMIT)
        ids += [str(m).rsplit("\x00", 1)[-1] for m in members]
    return ids


def load(client: redis.Redis, job_ids: list[str]) -> list[dict[str, Any]]:
    if not job_ids:
        return []
    return [json.loads(raw) for raw in client.mget([keys.dlq_entry(i) for i in job_ids]) if raw]


def counts(client: redis.Redis, cutoff_ms: int) -> dict[str, dict[str, int]]:
    """How many entries of each kind, platform, shop, code and campaign (newer than the cutoff)."""
    dims = sorted(str(k) for k in client.smembers(keys.DLQ_DIMS))
    if not dims:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in dims:
        pipe.zcount(key, cutoff_ms, "+inf")
    out: dict[str, dict[str, int]] = {}
    prefix = keys.dlq_index("", "")[:-2]
    for key, n in zip(dims, pipe.execute(), strict=True):
        if int(n):
            dimension, _, value = key[len(prefix) + 1:].partition(":")
            out.setdefault(dimension, {})[value] = int(n)
    return out


def index_ranks(client: redis.Redis, first: int, last: int) -> tuple[int, int]:
    """Index the dead letters ranked ``first``..``last`` in ``keys.DLQ`` (written before the indexes existed);
    returns (entries indexed, entries ranked: 0 past the end). The entries are read first and the index keys
    they join built here, so that every key written is named by the client (one slot of a Cluster); each
    write is an idempotent ZADD/SADD, so a batch cut short is simply indexed again."""
    rows: Any = client.zrange(keys.DLQ, first, last, withscores=True)
    ranked = [(str(member), float(score)) for member, score in rows]
    if not ranked:
        return 0, 0
    raws = client.mget([keys.dlq_entry(job_id) for job_id, _ in ranked])
    by_key: dict[str, dict[str, float]] = {}
    search: dict[str, float] = {}
    done = 0
    for (job_id, at), raw in zip(ranked, raws, strict=True):
        if not raw:
            continue
        entry = {**json.loads(raw), "job_id": job_id}
        for key in index_keys(entry):
            by_key.setdefault(key, {})[job_id] = at
        search.update(dict.fromkeys(search_members(entry), 0.0))
        done += 1
    pipe = client.pipeline(transaction=False)
    for key, members in by_key.items():
        pipe.zadd(key, members)
    if by_key:
        pipe.sadd(keys.DLQ_DIMS, *by_key)
    if search:
        pipe.zadd(keys.DLQ_SEARCH, search)
    pipe.execute()
    return done, len(ranked)
