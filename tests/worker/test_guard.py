"""The transport guard in-process: patched once, transparent for what kombu reads today, and the shape checks
pass what Celery itself sends."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis
from kombu.transport import redis as kombu_redis

from cancelq.jobs.contract import TASK_NAME
from cancelq.worker.app import app
from cancelq.worker.guard import UndecodableEnvelope, install_guard
from cancelq.worker.shapes import MAX_RAW_CHARS, envelope_problem, raw_text, task_problem
from tests.worker.messages import QUEUE

kombu: Any = kombu_redis


def test_the_guard_patches_once_and_reads_what_kombu_read() -> None:
    install_guard()
    patched = (kombu.loads, kombu.bytes_to_str, kombu.Channel._brpop_read)
    install_guard()
    assert (kombu.loads, kombu.bytes_to_str, kombu.Channel._brpop_read) == patched
    item = json.dumps({"body": "e30=", "headers": {"x": "\u00e9"}, "n": [1, 2.5, None]}).encode()
    assert kombu.loads(kombu.bytes_to_str(item)) == json.loads(item)
    assert kombu.bytes_to_str(b"caf\xc3\xa9") == "caf\u00e9" and kombu.bytes_to_str("s") == "s"
    with pytest.raises(UndecodableEnvelope, match="not UTF-8") as bad_bytes:
        kombu.loads(kombu.bytes_to_str(b'{"a": "\xff"}'))
    assert bad_bytes.value.raw == b'{"a": "\xff"}' and isinstance(bad_bytes.value, ValueError)
    with pytest.raises(UndecodableEnvelope, match="nested too deep"):
        kombu.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UndecodableEnvelope, match="not JSON"):
        kombu.loads("{not json")


def test_what_celery_sends_passes_both_checks(redis_client: redis.Redis) -> None:
    job = {"platform": "shoplazza", "shop": "s", "order_id": "1", "reason": "OTHER"}
    app.send_task(TASK_NAME, args=[job], queue=QUEUE, argsrepr="job", expires=60, countdown=1)
    app.send_task(TASK_NAME, args=[{"job_id": "j1"}], queue=QUEUE)
    items = redis_client.lrange(QUEUE, 0, -1)
    assert len(items) == 2
    for item in items:
        envelope = json.loads(item)
        assert envelope_problem(envelope) is None
        body = json.loads(base64.b64decode(envelope["body"]))
        assert task_problem(body, envelope["headers"], envelope["content-type"]) is None


def test_a_raw_copy_is_bounded_whatever_it_is() -> None:
    deep: list[object] = []
    for _ in range(5_000):
        deep = [deep]
    for raw in (b"\xff" * 50_000, "x" * 50_000, {"k": "v" * 50_000}, deep, {"b": b"\x00", "s": {1, 2}}):
        text = raw_text(raw)
        assert 0 < len(text) <= MAX_RAW_CHARS
    assert raw_text(b"ok\xff") == "ok\\xff"
