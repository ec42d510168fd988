"""Input that used to escape intake's checks (issue 12, item 4): each is recorded ``rejected`` with one clear
reason, through the Python API and through a real worker fed a raw Celery message; nothing raises."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.jobs.contract import MAX_JOB_BYTES, MAX_JOB_DEPTH, InvalidJob, check_limits, parse_job
from cancelq.jobs.ledger import JobRecord
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.e2e.test_wire_contract import raw_message
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shoplazza import KIT as SHOPLAZZA


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def deep_message(job: dict[str, Any], depth: int) -> str:
    """``raw_message`` of the job with its ``items`` nested ``depth`` deep: text that ``json.dumps`` cannot write."""
    envelope = json.loads(raw_message({**job, "items": "@deep@"}))
    body = base64.b64decode(envelope["body"]).decode().replace('"@deep@"', "[" * depth + "]" * depth)
    envelope["body"] = base64.b64encode(body.encode()).decode()
    return json.dumps(envelope)


def good_job(shop: str = "shoplazza-shop", order_id: Any = "633130-00000001", **extra: Any) -> dict[str, Any]:
    return {"platform": "shoplazza", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST", **extra}


BAD_JOBS: dict[str, tuple[Any, str]] = {
    "3,000 deep in items": (good_job(items=deep_list(3000)), f"items.0.0.0.0.0.<...>: nested deeper than "
                                                            f"{MAX_JOB_DEPTH} levels"),
    "3,000 deep in a field": (good_job(note={"x": deep_list(3000)}), f"nested deeper than {MAX_JOB_DEPTH} levels"),
    "3,000 deep platform": ({**good_job(), "platform": deep_list(3000)}, "platform.0.0.0.0.0.<...>: nested deeper"),
    "surrogate in shop": (good_job(shop="a\ud800"), "shop: not valid Unicode text (a lone surrogate)"),
    "surrogate in order_id": (good_job(order_id="633130-\udfff"), "order_id: not valid Unicode text"),
    "surrogate in note": (good_job(note="sorry \ud83d"), "note: not valid Unicode text"),
    "surrogate in idempotency_key": (good_job(idempotency_key="k\udc00"), "idempotency_key: not valid Unicode"),
    "surrogate in a key": ({**good_job(), "n\udc00te": "x"}, "n\ufffdte: the key is not valid Unicode text"),
    "over 64 KB": (good_job(options={"currency": "x" * MAX_JOB_BYTES}), f"job: larger than {MAX_JOB_BYTES} bytes"),
    "a huge integer": (good_job(order_id=10 ** 5000), "order_id: an integer of more than 64 bits"),
    "not a number": (good_job(options={"amount": float("nan")}), "options.amount: not a finite number"),
    "a set": (good_job(note={"a", "b"}), "note: not a JSON value (set)"),
    "a key that is no string": ({**good_job(), 7: "x"}, "job: object keys are strings, got int"),
}


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime()
    runtime.shops.add("shoplazza", "shoplazza-shop", dict(SHOPLAZZA.credentials), base_url="http://127.0.0.1:9")
    yield CancelQ(runtime)
    runtime.session.close()


def assert_recorded_rejected(rt: Runtime, job_id: str, fragment: str) -> None:
    """The ledger holds the job as rejected, with the reason, and its copy of the input reads back as UTF-8."""
    record = rt.ledger.get(job_id)
    assert record is not None and record.state == "rejected"
    assert fragment in record.reject_reason
    stored = rt.redis.hget(keys.job(job_id), "job")
    assert stored is not None and len(stored) < 20_000
    json.dumps(record.job, ensure_ascii=False).encode()
    json.dumps(record.events, ensure_ascii=False).encode()


@pytest.mark.parametrize("what", list(BAD_JOBS))
def test_the_python_api_rejects_it_with_its_reason(what: str, client: CancelQ, redis_client: redis.Redis) -> None:
    job, fragment = BAD_JOBS[what]
    handle = client.submit(job)
    assert handle.rejected and handle.created
    assert fragment in handle.reason
    assert_recorded_rejected(client.rt, handle.job_id, fragment)
    assert handle.job_id in {r.job_id for r in client.rejected()}
    assert redis_client.llen("cancelq") == 0


def test_a_valid_job_with_text_in_any_script_is_still_taken(client: CancelQ, redis_client: redis.Redis) -> None:
    handle = client.submit(good_job(note="ยกเลิก 取消 🚫 annulé"))
    assert not handle.rejected, handle.reason
    assert handle.status().state == "queued" and handle.status().job["note"] == "ยกเลิก 取消 🚫 annulé"
    assert redis_client.llen("cancelq") == 1


def test_a_surrogate_source_and_a_job_that_is_no_mapping_are_rejected(client: CancelQ) -> None:
    handle = client.submit(good_job(shop="a\ud800"), source="ops\udc00")
    assert_recorded_rejected(client.rt, handle.job_id, "shop: not valid Unicode text")
    assert client.job(handle.job_id).events[0]["source"] == "ops\ufffd"
    listed = client.submit([1, 2])  # type: ignore[arg-type]
    assert listed.rejected and listed.reason == "a job is a JSON object, got list"


def test_the_stored_copy_of_a_rejected_job_is_bounded_and_clean(client: CancelQ) -> None:
    handle = client.submit(good_job(shop="a\ud800", items=deep_list(3000), note="n" * 10_000))
    record = client.job(handle.job_id)
    assert record.job["shop"] == "a\ufffd" and len(record.job["note"]) == 500
    inner = record.job["items"]
    for _ in range(MAX_JOB_DEPTH - 2):
        inner = inner[0]
    assert inner == ["<list cut>"]


def test_the_limits_are_where_they_say() -> None:
    check_limits(deep_list(MAX_JOB_DEPTH))
    with pytest.raises(InvalidJob, match=f"nested deeper than {MAX_JOB_DEPTH}"):
        check_limits(deep_list(MAX_JOB_DEPTH + 1))
    check_limits({"s": "x" * (MAX_JOB_BYTES - 10)})
    with pytest.raises(InvalidJob, match="larger than"):
        check_limits({"s": "x" * (MAX_JOB_BYTES - 6)})
    with pytest.raises(InvalidJob, match="larger than"):
        check_limits([None] * 1_000_000)
    check_limits({"ids": [2 ** 63, -(2 ** 63)], "price": 1.5, "on": True, "off": None})
    with pytest.raises(InvalidJob, match="more than 64 bits"):
        check_limits([2 ** 64])


def test_the_task_takes_a_job_with_the_limits_checked_even_when_the_schema_was() -> None:
    """The schema memo (campaigns) and the message's copy of a job skip the schema, never the limits."""
    with pytest.raises(InvalidJob, match="shop: not valid Unicode text"):
        parse_job(good_job(shop="a\ud800"), schema_checked=True)


def _listed(rt: Runtime, count: int) -> list[JobRecord]:
    rejected = rt.ledger.rejected()
    return rejected if len(rejected) == count else []


def _final(rt: Runtime, idempotency_key: str) -> JobRecord | None:
    record = rt.ledger.find(idempotency_key)
    return record if record is not None and record.final else None


def test_a_worker_fed_raw_messages_rejects_them_and_keeps_working(redis_client: redis.Redis, sandbox: SandboxClient,
                                                                 sandbox_url: str, redis_url: str,
                                                                 tmp_path: Path) -> None:
    runtime = Runtime()
    shop = add_kit_shop(SHOPLAZZA, sandbox, runtime.shops, sandbox_url)
    sandbox.add_order("shoplazza", SHOPLAZZA.shop_ref, "633130-00000009", state="cancellable")
    bad = {
        "deep": (good_job(shop, items=deep_list(500)), "nested deeper than 32 levels"),
        "surrogate shop": (good_job("shop-\ud800"), "shop: not valid Unicode text"),
        "surrogate note": (good_job(shop, note="\udc00"), "note: not valid Unicode text"),
        "oversize": (good_job(shop, options={"currency": "y" * 70_000}), f"larger than {MAX_JOB_BYTES} bytes"),
        "huge integer": (good_job(shop, order_id=10 ** 30), "order_id: an integer of more than 64 bits"),
    }
    worker = WorkerProcess(tmp_path / "worker.log", redis_url)
    with worker:
        for job, _ in bad.values():
            redis_client.lpush("cancelq", raw_message(job))
        redis_client.lpush("cancelq", deep_message(good_job(shop), 3000))
        redis_client.lpush("cancelq", raw_message(good_job(shop, "633130-00000009")))
        rejected = wait_until(lambda: _listed(runtime, len(bad) + 1), what="every bad job to be rejected")
        record = wait_until(lambda: _final(runtime, f"shoplazza/{shop}/633130-00000009"), what="the good job to finish")
    assert record is not None and record.state == "succeeded"
    reasons = sorted(r.reject_reason for r in rejected)
    for what, (_, fragment) in bad.items():
        assert sum(fragment in reason for reason in reasons) == 1, (what, reasons)
    # 3,000 deep is past what Python's json can decode: the consumer records the message as undecodable.
    assert sum(reason.startswith("undecodable message") and "recursion" in reason for reason in reasons) == 1
    for r in rejected:
        assert_recorded_rejected(runtime, r.job_id, r.reject_reason)
    log = worker.log_path.read_text()
    assert "raised unexpected" not in log and "UnicodeEncodeError" not in log and "reject_record_failed" not in log
    runtime.session.close()
