"""The edge of the API over real HTTP: bounded bodies (413), problem+json for unknown routes, a request id on
every answer and access-log line, no key in any log, and 503 with Retry-After while Redis is down, then recovery."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import redis

from cancelq.api.apikeys import SCOPES, ApiKeys
from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.runtime import Runtime
from tests.api.conftest import TEST_SETTINGS, job
from tests.api.server import ApiProcess, ApiServer
from tests.kits.shopee import KIT as SHOPEE


def test_a_body_over_the_limit_is_413_whether_or_not_it_says_its_length(http: httpx.Client, rt: Runtime) -> None:
    big = b'{"note": "' + b"x" * (300 * 1024) + b'"}'
    declared = http.post("/v1/cancellations", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["type"].endswith("/too-large") and declared.headers["x-request-id"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 16 * 1024):
            yield big[start:start + 16 * 1024]

    streamed = http.post("/v1/cancellations", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["status"] == 413
    assert rt.ledger.rejected() == [], "a body cut off is not a job: nothing recorded"


def test_unknown_routes_and_methods_are_problem_json(http: httpx.Client) -> None:
    missing, wrong = http.get("/v1/nothing"), http.delete("/v1/cancellations")
    assert (missing.status_code, wrong.status_code) == (404, 405)
    assert missing.headers["content-type"] == wrong.headers["content-type"] == "application/problem+json"


def test_the_callers_request_id_comes_back_and_a_bad_one_is_replaced(http: httpx.Client) -> None:
    assert http.get("/healthz", headers={"X-Request-Id": "om-req-42"}).headers["x-request-id"] == "om-req-42"
    replaced = http.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"}).headers["x-request-id"]
    assert replaced and " " not in replaced
    problem = http.get("/v1/jobs/" + "0" * 20, headers={"X-Request-Id": "om-req-43"})
    assert problem.json()["request_id"] == "om-req-43"


def test_every_request_has_an_access_log_line_with_its_request_id_and_no_key(
        tmp_path: Path, rt: Runtime, make_key: Callable[..., str], shops: dict[str, str]) -> None:
    token = make_key("logged")
    log_path = tmp_path / "api.log"
    with ApiProcess(log_path) as api:
        auth = {"Authorization": f"Bearer {token}"}
        ok = httpx.post(api.url + "/v1/cancellations?client_ref=x", json=job("shopee", shops, "LOG-1"),
                        headers={**auth, "X-Request-Id": "trace-1"})
        bad = httpx.get(api.url + "/v1/events", headers={"Authorization": f"Bearer {token}x"})
        assert (ok.status_code, bad.status_code) == (202, 401)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line.get("event") == "api_request"}
    assert access["trace-1"]["status"] == 202 and access["trace-1"]["key"] == "logged"
    assert access["trace-1"]["path"] == "/v1/cancellations" and "client_ref" not in json.dumps(access["trace-1"])
    assert any(line["status"] == 401 for line in access.values())
    assert token not in text and token.split("_", 2)[2] not in text


def test_redis_down_is_503_with_retry_after_and_the_api_recovers(tmp_path: Path, sandbox_url: str) -> None:
    valkey = ValkeyProcess(tmp_path / "valkey", persist=True)
    url = valkey.start()
    try:
        rt = Runtime(settings=Runtime().settings.model_copy(update={**TEST_SETTINGS, "redis_url": url}), redis_url=url)
        rt.shops.add("shopee", "down-shop", dict(SHOPEE.credentials), base_url=sandbox_url)
        auth = {"Authorization": f"Bearer {ApiKeys(rt.redis).create('ops', list(SCOPES))[1]}"}
        body = {"platform": "shopee", "shop": "down-shop", "order_id": "R-1", "reason": "CUSTOMER_REQUEST"}
        with ApiServer(rt) as server:
            assert httpx.post(server.url + "/v1/cancellations", json=body, headers=auth).status_code == 202
            valkey.stop()
            down = httpx.post(server.url + "/v1/cancellations", json={**body, "order_id": "R-2"}, headers=auth)
            assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1
            assert down.headers["content-type"] == "application/problem+json" and "Traceback" not in down.text
            assert down.json()["type"].endswith("/unavailable") and "Redis" in down.json()["detail"]
            ready = httpx.get(server.url + "/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
            assert httpx.get(server.url + "/healthz").status_code == 200
            valkey.start()
            again = httpx.post(server.url + "/v1/cancellations", json={**body, "order_id": "R-2"}, headers=auth)
            assert again.status_code == 202, again.text
            assert httpx.get(server.url + "/readyz").status_code == 200
            assert httpx.post(server.url + "/v1/cancellations", json=body, headers=auth).status_code == 200
        rt.redis.close()
    finally:
        valkey.stop()


def test_readyz_is_200_when_redis_and_the_broker_answer(server: ApiServer, redis_client: redis.Redis) -> None:
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json() == {"ok": True, "checks": {"redis": "ok", "broker": "ok"}}


def test_a_campaign_upload_over_its_own_limit_is_413_and_starts_nothing(http: httpx.Client, rt: Runtime) -> None:
    line = b"shopee,shop,ORDER-0000001,OUT_OF_STOCK\n"
    upload = b"platform,shop,order_id,reason\n" + line * (1024 * 1024 // len(line) + 10)
    assert len(upload) < 2 * 1024 * 1024 and len(upload) > 256 * 1024, "over the upload limit, past the JSON one"
    answer = http.post("/v1/campaigns", content=upload, headers={"content-type": "text/csv"})
    assert answer.status_code == 413 and answer.json()["type"].endswith("/too-large")
    assert rt.redis.zcard(keys.CAMPAIGNS) == 0
    small = http.post("/v1/campaigns", content=b"platform,shop,order_id,reason\n" + line * 8000,
                      headers={"content-type": "text/csv"})
    assert small.status_code == 202, "a file past the JSON body limit but within the upload limit is taken"
