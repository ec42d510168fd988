"""Keys over real HTTP: 401 for any bad key, 403 without the scope or shop, neither telling whether a job exists;
the key's rate through the fleet-wide gate (429 + Retry-After); revocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from cancelq.api.apikeys import ApiKeyError, ApiKeys
from cancelq.core import keys
from cancelq.runtime import Runtime
from tests.api.conftest import job, make_runtime
from tests.api.server import ApiServer


def _bare(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in ("request_id", "instance")}


@pytest.mark.parametrize("header", [None, "Bearer cqk_0123456789abcdef_" + "a" * 48, "Bearer nonsense", "Basic Zm9vOmJhcg==",
                                    "Bearer  x"])
def test_a_missing_or_wrong_key_is_401_and_says_nothing_of_the_job(
        server: ApiServer, http: httpx.Client, shops: dict[str, str], header: str | None) -> None:
    existing = http.post("/v1/cancellations", json=job("shopee", shops, "A-1")).json()["job_id"]
    headers = {"Authorization": header} if header else {}
    answers = [httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers) for job_id in (existing, "f" * 20)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert answers[0].headers["www-authenticate"].startswith("Bearer")
    assert _bare(answers[0].json()) == _bare(answers[1].json())


def test_a_key_without_the_scope_is_403_before_anything_is_looked_up(
        server: ApiServer, http: httpx.Client, make_key: Callable[..., str], shops: dict[str, str]) -> None:
    existing = http.post("/v1/cancellations", json=job("shopee", shops, "A-2")).json()["job_id"]
    writer = {"Authorization": f"Bearer {make_key('writer', scopes=['jobs:write'])}"}
    answers = [httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=writer) for job_id in (existing, "e" * 20)]
    assert [a.status_code for a in answers] == [403, 403]
    assert _bare(answers[0].json()) == _bare(answers[1].json()) and "jobs:read" in answers[0].json()["detail"]
    assert httpx.get(f"{server.url}/v1/events", headers=writer).status_code == 403


def test_a_key_for_some_shops_is_403_for_others_and_cannot_see_their_jobs(
        server: ApiServer, http: httpx.Client, make_key: Callable[..., str], rt: Runtime,
        shops: dict[str, str]) -> None:
    lazada_job = http.post("/v1/cancellations", json=job("lazada", shops, "L-7")).json()["job_id"]
    shopee = {"Authorization": f"Bearer {make_key('shopee-only', shops=['shopee/*'])}"}
    refused = httpx.post(f"{server.url}/v1/cancellations", json=job("lazada", shops, "L-8"), headers=shopee)
    assert refused.status_code == 403 and "lazada/" in refused.json()["detail"]
    assert rt.ledger.rejected() == [] and rt.redis.llen(rt.settings.queue) == 1
    mine = httpx.post(f"{server.url}/v1/cancellations", json=job("shopee", shops, "S-8"), headers=shopee)
    assert mine.status_code == 202 and rt.ledger.get(mine.json()["job_id"]).job["source"] == "shopee-only"
    assert httpx.get(f"{server.url}/v1/jobs/{mine.json()['job_id']}", headers=shopee).status_code == 200
    others = [httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=shopee) for job_id in (lazada_job, "d" * 20)]
    assert [a.status_code for a in others] == [404, 404] and _bare(others[0].json())["title"] == "Not found"
    assert others[0].json()["detail"].replace(lazada_job, "ID") == others[1].json()["detail"].replace("d" * 20, "ID")
    batch = httpx.post(f"{server.url}/v1/cancellations/batch", headers=shopee,
                       json={"jobs": [job("shopee", shops, "S-9"), job("lazada", shops, "L-9")]})
    assert batch.status_code == 403 and "jobs[1]" in batch.json()["detail"]
    assert httpx.post(f"{server.url}/v1/campaigns", headers={**shopee, "content-type": "text/csv"},
                      content=b"platform,shop,order_id,reason\n").status_code == 403


def test_a_revoked_key_is_401(server: ApiServer, rt: Runtime, make_key: Callable[..., str]) -> None:
    token = make_key("temp")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1/events", headers=auth).status_code == 200
    ApiKeys(rt.redis).revoke("temp")
    assert httpx.get(f"{server.url}/v1/events", headers=auth).status_code == 401


def test_keys_are_stored_as_hashes_and_refuse_bad_scopes_shops_and_names(rt: Runtime) -> None:
    store = ApiKeys(rt.redis)
    key, token = store.create("om", ["jobs:write"], ["lazada/*"])
    assert token.startswith("cqk_") and key.scopes == ("jobs:write",)
    dumped = str({k: rt.redis.hgetall(k) for k in rt.redis.scan_iter(keys.apikey("*"))}) + str(rt.redis.hgetall(keys.APIKEYS))
    assert token not in dumped and token.split("_", 2)[2] not in dumped
    for bad in (lambda: store.create("om", ["jobs:write"]), lambda: store.create("x", ["jobs:delete"]),
                lambda: store.create("y", ["jobs:read"], ["ebay/*"]), lambda: store.create("no spaces", ["jobs:read"])):
        with pytest.raises(ApiKeyError):
            bad()


def test_a_keys_requests_are_limited_fleet_wide_with_429_and_retry_after(
        redis_client: redis.Redis, make_key: Callable[..., str]) -> None:
    slow = make_runtime(api_key_rate_per_s=0.2, api_key_burst=2)
    token = make_key("slow")
    with ApiServer(slow) as one, ApiServer(make_runtime(api_key_rate_per_s=0.2, api_key_burst=2)) as two:
        auth = {"Authorization": f"Bearer {token}"}
        statuses = [httpx.get(f"{server.url}/v1/events", headers=auth) for server in (one, two, one, two)]
    assert [a.status_code for a in statuses[:2]] == [200, 200]
    assert statuses[2].status_code == 429 and int(statuses[2].headers["retry-after"]) >= 1
    assert statuses[3].status_code == 429 and statuses[3].json()["type"].endswith("/rate-limited")


def test_the_key_is_checked_before_the_body(server: ApiServer) -> None:
    for path, body in (("/v1/cancellations", b"{not json"), ("/v1/cancellations/batch", b'{"jobz": 1}'),
                       ("/v1/webhooks", b'{"colour": 1}'), ("/v1/dead-letters/replay", b"[]")):
        answer = httpx.post(server.url + path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 401, (path, answer.text)
