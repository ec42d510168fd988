"""Carry state an older cancelq kept elsewhere into today's keys, once, when a worker starts.

Keys without the hash tag (``cq:...``, before every key shared ``keys.PREFIX``) are renamed to today's names
(``move_legacy_keys``): RENAMENX, one atomic command per key, keeps the value, its TTL and a stream's consumer
groups, and never overwrites a key today's cancelq wrote already (that old key is left in place and counted
as kept, for an operator to look at). Run again, it finds nothing to move.

Before the gate read one hash (``keys.GATE``) and leases lived in the jobs, pauses had a hash of their own
and running jobs an index of leases. A pause left there would no longer hold anything, and a job whose only
timer was its lease entry would never be taken over if its holder died: both are moved. Old limits,
cooldowns and circuit states are not: they only start again from nothing (a platform's next slow-down
sets a cooldown again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from redis.cluster import RedisCluster

from cancelq.core import keys
from cancelq.core.lua import source

OLD_PAUSES = f"{keys.PREFIX}:pauses"
OLD_LEASES = f"{keys.PREFIX}:leases"
KEPT_SAMPLE = 5


@dataclass
class Moved:
    """What ``move_legacy_keys`` did: keys renamed, and old keys kept because today's name exists already."""

    moved: int = 0
    kept: list[str] = field(default_factory=list)


def move_legacy_keys(client: redis.Redis, *, batch: int = 500) -> Moved:
    """Rename every ``cq:*`` key to its ``{cq}:*`` name (``keys.from_legacy``), and the index key names the
    dead-letter dimension set holds; idempotent. Not on a Redis Cluster: no older cancelq could run on one (its
    scripts built key names from their arguments), and a rename across slots is refused there."""
    report = Moved()
    if isinstance(client, RedisCluster):
        return report
    names: list[str] = []
    for name in client.scan_iter(match=f"{keys.glob_literal(keys.LEGACY_PREFIX)}:*", count=1000):
        names.append(str(name))
        if len(names) >= batch:
            _rename(client, names, report)
            names = []
    _rename(client, names, report)
    _rename_dimension_members(client)
    return report


def _rename(client: redis.Redis, names: list[str], report: Moved) -> None:
    if not names:
        return
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.renamenx(name, keys.from_legacy(name))
    for name, answer in zip(names, pipe.execute(raise_on_error=False), strict=True):
        if answer is True or answer == 1:
            report.moved += 1
        else:
            report.kept.append(name)


def _rename_dimension_members(client: redis.Redis) -> None:
    """``keys.DLQ_DIMS`` names index keys: its old names become today's, in one transaction."""
    old = [str(m) for m in client.smembers(keys.DLQ_DIMS) if str(m).startswith(f"{keys.LEGACY_PREFIX}:")]
    if not old:
        return
    pipe = client.pipeline(transaction=True)
    pipe.srem(keys.DLQ_DIMS, *old)
    pipe.sadd(keys.DLQ_DIMS, *(keys.from_legacy(m) for m in old))
    pipe.execute()


def adopt_old_keys(client: redis.Redis) -> int:
    """Move old pauses into the gate hash and old leases onto the delayed set (the earlier timer wins);
    returns how many entries moved. Atomic, and a no-op once done. Runs after ``move_legacy_keys``."""
    if not client.exists(OLD_PAUSES, OLD_LEASES):
        return 0
    return int(client.eval(source("cancelq.worker", "adopt"), 4, OLD_PAUSES, keys.GATE, OLD_LEASES, keys.DELAYED))


def upgrade_keys(client: redis.Redis, log: Any) -> None:
    """Both steps, in order (the old pause and lease keys are found under today's prefix once moved), each
    logged when it did something; a kept key is a warning, named (a key name holds no secret)."""
    moved = move_legacy_keys(client)
    if moved.moved:
        log.info("legacy_keys_moved", keys=moved.moved)
    if moved.kept:
        log.warning("legacy_keys_kept", keys=len(moved.kept), sample=moved.kept[:KEPT_SAMPLE],
                    why="a key of the same name under today's prefix exists already; the old one is left as it is")
    adopted = adopt_old_keys(client)
    if adopted:
        log.info("old_keys_adopted", entries=adopted)
