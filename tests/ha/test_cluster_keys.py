"""Cluster-safe keys: every key name shares the ``{cq}`` hash tag, every script gets its keys in KEYS, and the
scripts run on a real Redis Cluster through redis-py's cluster client, which refuses a script whose keys are in
different slots: a job's own (intake, begin, wait, the pump's claim, finish) and those a campaign does not run
(webhook claims, dead-letter indexing, circuits, cooldowns, the audit, pushes, the upgrade's adoption)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from redis.crc import key_slot

import cancelq
from cancelq.core import connections, keys
from cancelq.delivery.queue import DeliveryQueue
from cancelq.gate.circuits import Circuits
from cancelq.gate.limits import Gate
from cancelq.jobs.contract import parse_job
from cancelq.jobs.deadletters import DeadLetters
from cancelq.jobs.delayed import Delayed
from cancelq.jobs.events import Event
from cancelq.jobs.ledger import Intake, Ledger, now_ms
from cancelq.ops.audit import Action, Audit
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.store import PushStore
from cancelq.worker.upgrade import OLD_PAUSES, adopt_old_keys, move_legacy_keys

from .cluster import ClusterGroup
from .luascan import scan, scan_tree

NOT_KEYS = {"glob_literal", "lua_job_fields", "from_legacy"}


def test_no_script_touches_a_key_it_was_not_given_in_keys() -> None:
    findings = scan_tree(Path(cancelq.__file__).parent)
    assert not findings, "\n".join(str(f) for f in findings)


@pytest.mark.parametrize("snippet, rule", [
    ("redis.call('HGET', ARGV[5] .. ARGV[1], 'state')", "a string built from ARGV"),
    ("local jk = base .. existing\nredis.call('HGET', jk, F.state)", "assigned from ARGV or a concatenation"),
    ("local queue = ARGV[5]\nredis.call('ZADD', queue, now, id)", "assigned from ARGV"),
    ("redis.call('GET', ARGV[3])", "not KEYS[...] nor a name"),
    ("local function intake(idem_key, prefix, ttl)", "a key prefix"),
])
def test_the_scan_finds_a_key_built_from_a_scripts_arguments(snippet: str, rule: str) -> None:
    assert any(rule in f.rule for f in scan(snippet)), scan(snippet)


def _sample(parameter: inspect.Parameter) -> object:
    return 1 if parameter.annotation in (int, "int") else "x"


def test_every_key_name_hashes_to_the_slot_of_the_hash_tag() -> None:
    constants = [v for n, v in vars(keys).items() if n.isupper() and isinstance(v, str) and v.startswith(keys.PREFIX)]
    built = []
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        if fn.__module__ == keys.__name__ and name not in NOT_KEYS:
            value = fn(*(_sample(p) for p in inspect.signature(fn).parameters.values()))
            built.append(value)
    names = constants + [v for v in built if v.startswith(f"{keys.PREFIX}:")]
    assert len(names) > 40 and not [v for v in built if v.startswith(f"{keys.LEGACY_PREFIX}:")]
    slot = key_slot(b"cq")
    assert [n for n in names if key_slot(n.encode()) != slot] == []
    assert keys.from_legacy("cq:job:abc") == keys.job("abc") and keys.from_legacy("other:x") == "other:x"


def test_a_jobs_own_scripts_run_on_a_cluster(empty_cluster: ClusterGroup) -> None:
    """intake (and a duplicate's second call), begin, wait, the pump's claim, finish: each by its own call."""
    client = connections.client(empty_cluster.url, decode_responses=True)
    ledger, delayed = Ledger(client), Delayed(client)
    job = parse_job({"platform": "shopee", "shop": "s1", "order_id": "O-1", "reason": "OUT_OF_STOCK"})
    first = ledger.intake(job)
    assert first.created and ledger.intake(job) == Intake(first.job_id, False, "queued")
    began = ledger.begin(first.job_id)
    assert began.kind == "run" and began.record is not None
    ledger.wait(began.record, due_ms=now_ms() - 1, fields={})
    assert delayed.claim_due() == [first.job_id]
    again = ledger.begin(first.job_id).record
    assert again is not None
    ledger.finish(again, state="succeeded", fields={}, event={"job_id": first.job_id})
    assert ledger.get(first.job_id).state == "succeeded"  # type: ignore[union-attr]
    assert empty_cluster.one_node()


def test_the_scripts_a_campaign_does_not_run_work_on_a_cluster(empty_cluster: ClusterGroup) -> None:
    client = connections.client(empty_cluster.url, decode_responses=True)
    now = now_ms()
    queue = DeliveryQueue(client)
    pipe = client.pipeline(transaction=False)
    queue.enqueue(pipe, Event("1-0", "cancel.succeeded", 1, {}), "ep1", now - 1)
    pipe.execute()
    assert queue.claim(10, {}) == ["1-0:ep1"]

    entry = {"job_id": "j1", "kind": "permanent", "job": {"platform": "shopee", "shop": "s1", "order_id": "O-1"},
             "error": {"code": "not_cancellable"}}
    client.set(keys.dlq_entry("j1"), json.dumps(entry))
    client.zadd(keys.DLQ, {"j1": now})
    assert DeadLetters(client).ensure_indexed() == 1
    assert client.zscore(keys.dlq_index("code", "not_cancellable"), "j1") == now

    assert Circuits(client).failure("shopee", "s1", store_locked=True)
    Gate(client).cool_down("platform:shopee", 5)
    assert client.hget(keys.GATE, keys.cool_field("platform:shopee"))
    assert Audit(client).record(Action(operator="op", action="dead.replay", count=1))
    store = PushStore(client)
    push = PushNotice("shopee", "s1", "O-1", "status", "CANCELLED", "m-1")
    assert store.append(push) is not None and store.append(push) is None

    client.hset(OLD_PAUSES, "shop:shopee/s1", '{"at": 1, "reason": "old"}')
    assert move_legacy_keys(client).moved == 0, "no older cancelq ran on a Cluster: nothing to move"
    assert adopt_old_keys(client) == 1
    assert empty_cluster.one_node()
