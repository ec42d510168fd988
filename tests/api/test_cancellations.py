"""POST /v1/cancellations and /batch over real HTTP: 202 + Location, repeats, 422 with every reason (recorded
rejected), the Idempotency-Key header (concurrent, reused, required)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from cancelq.core import keys
from cancelq.runtime import Runtime
from tests.api.conftest import job, make_runtime
from tests.api.server import ApiServer

PROBLEM = "application/problem+json"


def queued(rt: Runtime) -> int:
    return int(rt.redis.llen(rt.settings.queue))


def test_a_new_job_is_202_with_its_location_recorded_with_the_keys_name_and_sent_once(
        http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    answer = http.post("/v1/cancellations", json=job("shopee", shops, "SPE-1", client_ref="om-1"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{body['job_id']}" == body["location"]
    assert body["state"] == "queued" and body["final"] is False and body["job"]["order_id"] == "SPE-1"
    assert answer.headers["x-request-id"]
    record = rt.ledger.get(body["job_id"])
    assert record is not None and record.job["source"] == "erp" and record.job["client_ref"] == "om-1"
    assert queued(rt) == 1

    again = http.post("/v1/cancellations", json=job("shopee", shops, "SPE-1", client_ref="om-1"))
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == body["job_id"] and queued(rt) == 1


def test_another_job_under_a_used_natural_key_is_422(http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    first = http.post("/v1/cancellations", json=job("lazada", shops, "L-1"))
    assert first.status_code == 202
    other = http.post("/v1/cancellations", json={**job("lazada", shops, "L-1"), "reason": "OUT_OF_STOCK"})
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    assert other.json()["type"].endswith("/idempotency-key-reused") and other.json()["job_id"] == first.json()["job_id"]
    assert queued(rt) == 1


def test_a_reason_is_read_loosely_the_same_job_whatever_its_spelling(
        http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    answer = http.post("/v1/cancellations", json={**job("shopee", shops, "LOOSE-1"), "reason": "out of stock"})
    assert answer.status_code == 202, answer.text
    record = rt.ledger.get(answer.json()["job_id"])
    assert record is not None and record.job["reason"] == "OUT_OF_STOCK"
    again = http.post("/v1/cancellations", json={**job("shopee", shops, "LOOSE-1"), "reason": "Out-Of-Stock"})
    assert again.status_code == 200 and again.json()["job_id"] == answer.json()["job_id"]
    wrong = http.post("/v1/cancellations", json={**job("shopee", shops, "LOOSE-2"), "reason": "out of stok"})
    assert wrong.status_code == 422 and "OUT_OF_STOCK" in wrong.text  # the choices are named
    assert queued(rt) == 1


def test_an_invalid_job_is_422_with_every_reason_and_recorded_rejected(
        http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    answer = http.post("/v1/cancellations", json={"platform": "shopee", "shop": shops["shopee"], "order_id": "X",
                                                  "colour": "red", "items": "all"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"].endswith("/invalid-job") and problem["status"] == 422
    assert len(problem["errors"]) >= 3, problem  # the missing reason, the unknown field, items not an array
    assert any("reason" in e for e in problem["errors"]) and any("colour" in e for e in problem["errors"])
    rejected = rt.ledger.rejected()
    assert [r.job_id for r in rejected] == [problem["job_id"]]
    assert rejected[0].events[0]["source"] == "erp" and rejected[0].job["colour"] == "red"
    assert queued(rt) == 0


def test_a_body_that_is_not_json_is_422_and_recorded_rejected(http: httpx.Client, rt: Runtime) -> None:
    answer = http.post("/v1/cancellations", content=b"{platform: shopee", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "not valid JSON" in answer.json()["detail"]
    assert rt.ledger.rejected()[0].reject_reason == "body: not valid JSON"


def test_an_unknown_shop_is_422_recorded_rejected(http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    answer = http.post("/v1/cancellations", json={**job("shopee", shops, "S-9"), "shop": "nowhere"})
    assert answer.status_code == 422 and "no shopee shop named 'nowhere'" in answer.json()["detail"]
    assert len(rt.ledger.rejected()) == 1


def test_the_same_idempotency_key_twice_at_once_from_two_threads_makes_one_job(
        http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    statuses: list[int] = []
    ids: list[str] = []
    start = threading.Barrier(2)

    def post() -> None:
        start.wait()
        answer = http.post("/v1/cancellations", json=job("shopline", shops, "SL-1"),
                           headers={"Idempotency-Key": "order-77"})
        statuses.append(answer.status_code)
        if answer.status_code < 300:
            ids.append(answer.json()["job_id"])

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) in ([200, 202], [202, 409]), statuses
    assert len(set(ids)) == 1 and queued(rt) == 1
    assert len(list(rt.redis.scan_iter(keys.job("*")))) == 1

    replay = http.post("/v1/cancellations", json=job("shopline", shops, "SL-1"), headers={"Idempotency-Key": "order-77"})
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["job_id"] == ids[0]


def test_the_same_idempotency_key_with_another_body_is_422(http: httpx.Client, shops: dict[str, str]) -> None:
    assert http.post("/v1/cancellations", json=job("shoplazza", shops, "Z-1"),
                     headers={"Idempotency-Key": "k1"}).status_code == 202
    other = http.post("/v1/cancellations", json=job("shoplazza", shops, "Z-2"), headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")


def test_an_idempotency_key_replays_a_rejection_without_recording_it_twice(
        http: httpx.Client, rt: Runtime) -> None:
    for _ in range(2):
        answer = http.post("/v1/cancellations", json={"platform": "shopee"}, headers={"Idempotency-Key": "bad-1"})
        assert answer.status_code == 422
    assert answer.headers["idempotent-replayed"] == "true" and len(rt.ledger.rejected()) == 1


def test_a_missing_idempotency_key_is_400_when_the_setting_requires_one(
        redis_client: redis.Redis, make_key: Callable[..., str], shops: dict[str, str]) -> None:
    strict = make_runtime(api_require_idempotency_key=True)
    with ApiServer(strict) as server:
        auth = {"Authorization": f"Bearer {make_key()}"}
        missing = httpx.post(server.url + "/v1/cancellations", json=job("shopee", shops, "S-1"), headers=auth)
        assert missing.status_code == 400 and missing.json()["type"].endswith("/idempotency-key-missing")
        given = httpx.post(server.url + "/v1/cancellations", json=job("shopee", shops, "S-1"),
                           headers={**auth, "Idempotency-Key": "a"})
        assert given.status_code == 202
    assert strict.ledger.rejected() == []


def test_a_batch_answers_each_item_as_a_single_post_would(http: httpx.Client, rt: Runtime,
                                                          shops: dict[str, str]) -> None:
    assert http.post("/v1/cancellations", json=job("shopee", shops, "B-0")).status_code == 202
    jobs: list[dict[str, Any]] = [job("shopee", shops, "B-0"), job("lazada", shops, "B-1"),
                                  {"platform": "lazada", "order_id": "B-2"}, job("shopline", shops, "B-3"),
                                  job("lazada", shops, "B-1")]
    answer = http.post("/v1/cancellations/batch", json={"jobs": jobs})
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [200, 202, 422, 202, 200]
    assert results[1]["job_id"] == results[4]["job_id"] and results[4]["repeat"] is True
    assert any("shop" in e for e in results[2]["errors"])
    assert Counter(answer.json()[k] for k in ("created", "repeated", "rejected")) == Counter([2, 2, 1])
    assert queued(rt) == 3 and len(rt.ledger.rejected()) == 1


@pytest.mark.parametrize("body", [{"jobs": []}, {"jobs": [{}], "extra": 1}, {"jobz": []}])
def test_a_malformed_batch_is_422(http: httpx.Client, body: dict[str, Any]) -> None:
    answer = http.post("/v1/cancellations/batch", json=body)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM


def test_a_batch_above_the_limit_is_422_and_submits_nothing(http: httpx.Client, rt: Runtime,
                                                           shops: dict[str, str]) -> None:
    answer = http.post("/v1/cancellations/batch", json={"jobs": [job("shopee", shops, f"O-{i}") for i in range(1001)]})
    assert answer.status_code == 422 and "at most 1000" in answer.json()["detail"]
    assert queued(rt) == 0


def test_a_request_while_the_same_idempotency_key_is_in_flight_is_409(
        http: httpx.Client, rt: Runtime, server: ApiServer, shops: dict[str, str]) -> None:
    from cancelq.api.apikeys import ApiKeys
    from cancelq.api.idempotency import Idempotency, fingerprint

    key = ApiKeys(rt.redis).all()[0]
    body = job("shopee", shops, "IF-1")
    held = Idempotency(rt.redis, ttl_s=60).take(key.id, "slow-1", fingerprint("/v1/cancellations", body))
    assert held is None, "this test holds the key, as a first request still running would"
    answer = http.post("/v1/cancellations", json=body, headers={"Idempotency-Key": "slow-1"})
    assert answer.status_code == 409 and answer.headers["retry-after"] == "1"
    assert answer.json()["type"].endswith("/idempotency-key-in-flight") and queued(rt) == 0
