"""Following and acting on jobs over real HTTP: a job delivered (steps, request ids, Retry-After only while not
final), found by reference and by order, the event feed, webhook endpoints, dead letters listed and replayed, a
campaign uploaded as CSV and its report downloaded."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.api.conftest import job, make_runtime
from tests.api.server import ApiServer
from tests.campaign_helpers import deliver_queued, seed


def test_a_job_is_followed_to_its_outcome_with_its_steps_and_request_ids(
        http: httpx.Client, rt: Runtime, sandbox: SandboxClient, shops: dict[str, str]) -> None:
    seed(sandbox, [("shopee", "F-1", "cancellable")])
    job_id = http.post("/v1/cancellations", json=job("shopee", shops, "F-1", client_ref="om-9")).json()["job_id"]
    waiting = http.get(f"/v1/jobs/{job_id}")
    assert waiting.status_code == 200 and waiting.json()["state"] == "queued" and waiting.headers["retry-after"] == "1"
    assert deliver_queued(rt) == [job_id]
    done = http.get(f"/v1/jobs/{job_id}")
    body = done.json()
    assert body["state"] == "succeeded" and body["final"] is True and "retry-after" not in done.headers
    assert body["steps"] and all(step.get("request_id") for step in body["steps"].values())
    assert body["attribution"] == "confirmed" and body["events"]
    by_ref = http.get("/v1/jobs", params={"client_ref": "om-9"}).json()["jobs"]
    by_order = http.get("/v1/jobs", params={"platform": "shopee", "shop": shops["shopee"], "order_id": "F-1"})
    assert [j["job_id"] for j in by_ref] == [j["job_id"] for j in by_order.json()["jobs"]] == [job_id]
    assert http.get("/v1/jobs", params={"client_ref": "nobody"}).json() == {"jobs": []}
    assert http.get("/v1/jobs", params={"platform": "shopee"}).status_code == 400


def test_the_event_feed_pages_by_id_and_filters_by_type(http: httpx.Client, rt: Runtime, sandbox: SandboxClient,
                                                         shops: dict[str, str]) -> None:
    seed(sandbox, [("shopee", "E-1", "cancellable"), ("lazada", "E-2", "shipped")])
    for platform, order in (("shopee", "E-1"), ("lazada", "E-2")):
        http.post("/v1/cancellations", json=job(platform, shops, order))
    http.post("/v1/cancellations", json={"platform": "shopee"})
    deliver_queued(rt)
    latest = http.get("/v1/events", params={"limit": 1}).json()["events"]
    first = http.get("/v1/events", params={"limit": 2, "after": "0-0"}).json()
    rest = http.get("/v1/events", params={"after": first["next_after"]}).json()
    types = [e["type"] for e in first["events"] + rest["events"]]
    assert sorted(types) == ["cancel.dead", "cancel.rejected", "cancel.succeeded"]
    assert [e["id"] for e in latest] == [(first["events"] + rest["events"])[-1]["id"]]
    only = http.get("/v1/events", params={"after": "0-0", "types": "cancel.dead"}).json()["events"]
    assert [e["data"]["order_id"] for e in only] == ["E-2"] and only[0]["data"]["source"] == "erp"
    assert http.get("/v1/events", params={"after": "yesterday"}).status_code == 422


def test_webhook_endpoints_are_made_listed_rotated_disabled_and_deleted(http: httpx.Client,
                                                                       make_key: Callable[..., str]) -> None:
    assert http.post("/v1/webhooks", json={"url": "http://127.0.0.1/x"}).status_code == 422  # private: refused
    with ApiServer(make_runtime(webhook_allow_private=True)) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {make_key('hooks')}"}) as hooks:
        made = hooks.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks/cancelq?token=abc",
                                                "events": ["cancel.*"], "shops": ["shopee/*"]})
        assert made.status_code == 201, made.text
        endpoint = made.json()
        assert endpoint["secret"].startswith("whsec_") and endpoint["host"] == "127.0.0.1:9"
        assert made.headers["location"] == f"/v1/webhooks/{endpoint['id']}"
        assert Webhook(endpoint["secret"]).sign("msg_1", datetime.now(UTC), "{}").startswith("v1,")
        listed = hooks.get("/v1/webhooks")
        assert [e["id"] for e in listed.json()["endpoints"]] == [endpoint["id"]]
        assert listed.json()["endpoints"][0]["secret"] is None and "abc" not in listed.text
        assert "hooks/cancelq" not in listed.text
        rotated = hooks.post(f"/v1/webhooks/{endpoint['id']}/rotate").json()
        assert rotated["secret"] != endpoint["secret"] and rotated["rotating_until"]
        assert hooks.post(f"/v1/webhooks/{endpoint['id']}/disable").json()["enabled"] is False
        assert hooks.post(f"/v1/webhooks/{endpoint['id']}/enable").json()["enabled"] is True
        assert hooks.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 204
        assert hooks.get(f"/v1/webhooks/{endpoint['id']}").status_code == 404
        bad = hooks.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["cancel.sucess"]})
        assert bad.status_code == 422 and "matches no event type" in bad.json()["detail"]
        assert hooks.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "colour": 1}).status_code == 422


def test_dead_letters_are_listed_paged_and_replayed(http: httpx.Client, rt: Runtime, sandbox: SandboxClient,
                                                    shops: dict[str, str]) -> None:
    seed(sandbox, [("lazada", f"D-{i}", "shipped") for i in range(3)])
    for i in range(3):
        http.post("/v1/cancellations", json=job("lazada", shops, f"D-{i}"))
    deliver_queued(rt)
    first = http.get("/v1/dead-letters", params={"limit": 2}).json()
    second = http.get("/v1/dead-letters", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    ids = [d["job_id"] for d in first["dead_letters"] + second["dead_letters"]]
    assert len(set(ids)) == 3 and second["next_cursor"] is None
    assert all(d["kind"] == "permanent" and d["error"]["code"] for d in first["dead_letters"])
    assert http.get("/v1/dead-letters", params={"platform": "shopee"}).json()["dead_letters"] == []
    one = http.post(f"/v1/dead-letters/{ids[0]}/replay")
    assert one.status_code == 200 and one.json()["replayed"][0]["job_id"] == ids[0]
    assert http.post(f"/v1/dead-letters/{ids[0]}/replay").status_code == 404
    rest = http.post("/v1/dead-letters/replay", json={"platform": "lazada", "kind": "permanent"}).json()
    assert sorted(r["job_id"] for r in rest["replayed"]) == sorted(ids[1:])
    assert http.get("/v1/dead-letters").json()["dead_letters"] == []
    assert http.post("/v1/dead-letters/replay", json={"kind": "lost"}).status_code == 422


def test_a_campaign_is_uploaded_as_csv_followed_and_its_report_downloaded(
        http: httpx.Client, rt: Runtime, sandbox: SandboxClient, shops: dict[str, str]) -> None:
    seed(sandbox, [("shopee", "C-1", "cancellable"), ("shopline", "C-2", "cancellable"),
                   ("lazada", "C-3", "shipped")])
    text = ("platform,shop,order_id\n"
            f"shopee,{shops['shopee']},C-1\nshopline,{shops['shopline']},C-2\nlazada,{shops['lazada']},C-3\n"
            f"shopee,{shops['shopee']},\n")
    started = http.post("/v1/campaigns", params={"reason": "CUSTOMER_REQUEST"}, content=text.encode(),
                        headers={"content-type": "text/csv"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert (body["read"], body["sent"], body["invalid_count"]) == (4, 3, 1) and body["invalid"][0]["line"] == 5
    assert started.headers["location"] == f"/v1/campaigns/{body['campaign_id']}"
    deliver_queued(rt)
    status = http.get(started.headers["location"]).json()
    assert status["status"] == "finished" and status["counts"]["succeeded"] == 2 and status["counts"]["dead"] == 1
    report = http.get(body["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [(r["line"], r["order_id"], r["outcome"]) for r in rows] == [
        ("2", "C-1", "succeeded"), ("3", "C-2", "succeeded"), ("4", "C-3", "dead"), ("5", "", "invalid")]
    redo = http.post(f"/v1/campaigns/{body['campaign_id']}/redo-failed")
    assert [r["status"] for r in redo.json()["replayed"]] == [202]
    assert http.post(f"/v1/campaigns/{body['campaign_id']}/pause").json()["status"] == "paused"
    assert http.post(f"/v1/campaigns/{body['campaign_id']}/resume").json()["status"] == "running"
    assert http.post(f"/v1/campaigns/{body['campaign_id']}/abort").json()["status"] in ("aborting", "aborted")
    assert http.get("/v1/campaigns/no-such-campaign").status_code == 404


def test_a_campaign_file_refused_whole_says_why(http: httpx.Client, rt: Runtime, shops: dict[str, str]) -> None:
    unknown = http.post("/v1/campaigns", content=b"platform,shop,order_id,resaon\n", headers={"content-type": "text/csv"})
    assert unknown.status_code == 422 and "resaon" in unknown.json()["detail"]
    assert "upload." not in unknown.json()["detail"]
    media = http.post("/v1/campaigns", content=b"{}", headers={"content-type": "application/json"})
    assert media.status_code == 415
    jsonl = http.post("/v1/campaigns", params={"dry_run": "true", "strict": "true"},
                      headers={"content-type": "application/jsonl"},
                      content=(f'{{"platform":"shopee","shop":"{shops["shopee"]}","order_id":"J-1",'
                               '"reason":"CUSTOMER_REQUEST"}\n{"platform":"shopee"}\n').encode())
    assert jsonl.status_code == 422 and jsonl.headers["content-type"] == "application/problem+json"
    assert jsonl.json()["type"].endswith("/campaign-refused") and jsonl.json()["errors"][0].startswith("line 2:")
    assert rt.redis.llen(rt.settings.queue) == 0 and now_ms() > 0


def test_a_webhook_endpoint_is_tested_and_sent_events_again(http: httpx.Client, make_key: Callable[..., str],
                                                           rt: Runtime) -> None:
    from cancelq.core import keys
    from tests.delivery.receiver import Receiver

    receiver = Receiver()
    try:
        with ApiServer(make_runtime(webhook_allow_private=True)) as server, httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {make_key('hooks')}"}) as hooks:
            endpoint = hooks.post("/v1/webhooks", json={"url": receiver.url, "events": ["cancel.*"]}).json()
            receiver.secrets.append(endpoint["secret"])
            tested = hooks.post(f"/v1/webhooks/{endpoint['id']}/test")
            assert tested.status_code == 200 and tested.json()["ok"] is True and tested.json()["status"] == 204
            assert [d["body"]["type"] for d in receiver.received] == ["webhook.test"]
            for order in ("W-1", "W-2"):
                hooks.post("/v1/cancellations", json={"platform": "shopee", "shop": "nowhere", "order_id": order,
                                                      "reason": "OTHER"})
            again = hooks.post(f"/v1/webhooks/{endpoint['id']}/replay", json={"since_ms": 0})
            assert again.status_code == 200 and again.json() == {"queued": 2}
            event_id = rt.redis.xrange(keys.EVENTS)[0][0]
            assert hooks.post(f"/v1/webhooks/{endpoint['id']}/replay", json={"event": event_id}).json() == {"queued": 1}
            assert hooks.post(f"/v1/webhooks/{endpoint['id']}/replay", json={"event": "1-0"}).status_code == 404
            assert hooks.post(f"/v1/webhooks/{endpoint['id']}/replay", json={}).status_code == 422
            assert hooks.post("/v1/webhooks/we_nothing/test").status_code == 404
    finally:
        receiver.close()


def test_an_event_id_redis_cannot_read_is_422_not_500(http: httpx.Client) -> None:
    for after in ("0-93280969062848929180", "99999999999999999999-0"):
        assert http.get("/v1/events", params={"after": after}).status_code == 422
    assert http.get("/v1/events", params={"after": "0-18446744073709551"}).status_code == 200
