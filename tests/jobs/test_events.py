"""The event outbox: every outcome and operational change appends exactly one event in the write that makes it,
each valid against cancelq/schemas/event.schema.json; consumer groups read them at least once."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.jobs.contract import parse_job
from cancelq.jobs.events import Event, Events
from cancelq.jobs.ledger import now_ms
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.deliveries import run_until_final
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

VALIDATOR = Draft202012Validator(json.loads(
    resources.files("cancelq.schemas").joinpath("event.schema.json").read_text()))


def _all(client: CancelQ) -> list[Event]:
    return client.rt.events.recent(count=1000)


def _valid(event: Event) -> Event:
    errors = [e.message for e in VALIDATOR.iter_errors(event.to_dict())]
    assert not errors, (event.to_dict(), errors)
    return event


def _job(shop: str, order_id: str, **more: Any) -> dict[str, Any]:
    return {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST", **more}


def test_every_outcome_appends_one_valid_event_with_the_job_and_its_evidence(
        client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    for order_id, state in (("OK-1", "cancellable"), ("GONE-1", "cancelled"), ("SHIP-1", "shipped"),
                            ("DRY-1", "cancellable")):
        sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state=state)
    jobs = {o: client.rt.ledger.intake(parse_job(_job(shop, o, client_ref=f"om-{o}", source="om",
                                                  **({"dry_run": True} if o == "DRY-1" else {})))).job_id
            for o in ("OK-1", "GONE-1", "SHIP-1", "DRY-1")}
    for job_id in jobs.values():
        run_until_final(client.rt, job_id, first_hint=False)
    rejected = client.submit(_job("no-such-shop", "X-1", client_ref="om-X"))
    events = {e.data["job_id"]: _valid(e) for e in _all(client)}
    assert len(_all(client)) == 5, "one event per outcome, no more"
    ok, gone, ship, dry = (events[jobs[o]] for o in ("OK-1", "GONE-1", "SHIP-1", "DRY-1"))
    assert ok.type == "cancel.succeeded" and ok.data["attribution"] == "confirmed"
    assert ok.data["evidence"]["write_request_id"] == client.job(jobs["OK-1"]).steps["cancel"]["request_id"]
    assert (ok.data["client_ref"], ok.data["source"], ok.data["order_id"]) == ("om-OK-1", "om", "OK-1")
    assert gone.type == "cancel.already_cancelled" and gone.data["attribution"] in ("before_us", "refused")
    assert ship.type == "cancel.dead" and ship.data["dead_kind"] == "permanent" and ship.data["error"]["code"]
    assert dry.type == "cancel.previewed"
    refused = events[rejected.job_id]
    assert refused.type == "cancel.rejected" and "no-such-shop" in refused.data["reject_reason"]
    assert refused.data["client_ref"] == "om-X" and refused.data["received_via"] == "api"
    secrets = [str(v) for v in SHOPEE.credentials.values() if isinstance(v, str) and len(str(v)) > 8]
    stream = json.dumps([e.to_dict() for e in _all(client)])
    assert secrets and not any(s in stream for s in secrets), "no secret in any event"


def test_a_refused_stale_write_appends_no_event(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "ORD-1", state="cancellable")
    job_id = client.submit(_job(shop, "ORD-1")).job_id
    stale = JobRun(client.rt, job_id)
    assert stale.begin()
    client.rt.redis.hset(keys.job(job_id), "lease_until", now_ms() - 1)
    run_until_final(client.rt, job_id, first_hint=False)
    stale.finish("already_cancelled", attribution="refused")
    assert [e.type for e in _all(client)] == ["cancel.succeeded"]


def test_operational_events_circuit_shop_and_campaign(client: CancelQ, sandbox: SandboxClient, sandbox_url: str,
                                                      tmp_path: Any) -> None:
    circuits = client.rt.circuits
    for _ in range(client.rt.settings.circuit_shop_threshold):
        circuits.failure("shopee", "s1")
    circuits.success("shopee", "s1")
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    registered = client.rt.shops.get("shopee", shop)
    assert registered is not None
    client.rt.shops.mark_reauth(registered, "refresh_token_expired: the seller must authorise again")
    sandbox.add_order("shopee", SHOPEE.shop_ref, "C-1", state="cancellable")
    path = tmp_path / "c.csv"
    path.write_text(f"platform,shop,order_id,reason\nshopee,{shop},C-1,CUSTOMER_REQUEST\n", encoding="utf-8")
    client.rt.shops.add("shopee", shop, dict(SHOPEE.credentials), base_url=sandbox_url)
    result = client.run_campaign(path)
    for job_id in client.rt.redis.hkeys(keys.campaign_states(result.campaign_id)):
        run_until_final(client.rt, str(job_id), first_hint=False)
    by_type = {e.type: _valid(e) for e in _all(client)}
    assert by_type["circuit.opened"].data["circuit"] == "shopee:s1" and by_type["circuit.opened"].data["open_s"] > 0
    assert by_type["circuit.closed"].data["shop"] == "s1"
    assert by_type["shop.needs_reauth"].data["shop"] == shop
    finished = by_type["campaign.finished"].data
    assert (finished["campaign_id"], finished["total"], finished["succeeded"], finished["status"]) == (
        result.campaign_id, 1, 1, "finished")
    assert [e.type for e in _all(client)].count("campaign.finished") == 1


def test_consumer_groups_read_each_event_once_and_take_over_a_crashed_readers(client: CancelQ) -> None:
    events = Events(client.rt.redis, claim_idle_ms=0)
    for i in range(5):
        client.rt.ledger.reject({"n": i}, f"bad {i}", source="test")
    first = events.read_group("erp", "a", count=3)
    assert len(first) == 3
    events.ack("erp", [first[0].id])
    rest = events.read_group("erp", "b", count=10)  # b takes over a's two unacknowledged (idle 0 ms) and the rest
    assert sorted(e.id for e in rest) == sorted([e.id for e in first[1:]] + [e.id for e in _all(client)[3:]])
    events.ack("erp", [e.id for e in rest])
    assert events.read_group("erp", "a") == []
    other = Events(client.rt.redis).read_group("crm", "x", count=100)
    assert len(other) == 5, "every group reads every event"


def test_trimming_by_age_never_drops_what_a_group_has_not_read(client: CancelQ) -> None:
    events = Events(client.rt.redis, retention_s=0)
    for i in range(4):
        client.rt.ledger.reject({"n": i}, f"bad {i}", source="test")
    events.ensure_group("slow")
    read = events.read_group("slow", "a", count=2)
    events.ack("slow", [read[0].id])
    assert events.trim(now_ms() + 1000) == 1, "only what the group acknowledged may go"
    assert _all(client)[0].id == read[1].id
    events.ack("slow", [read[1].id])
    events.read_group("slow", "a", count=10)  # delivered, not acknowledged: kept
    assert events.trim(now_ms() + 1000) == 1


def test_find_by_key_or_client_ref_and_the_events_command(client: CancelQ, sandbox: SandboxClient, sandbox_url: str
                                                          ) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, client.rt.shops, sandbox_url)
    handle = client.submit(_job(shop, "F-1", client_ref="om-4711"))
    assert client.find(client_ref="om-4711").job_id == handle.job_id  # type: ignore[union-attr]
    assert client.find(key=f"shopee/{shop}/F-1").job_id == handle.job_id  # type: ignore[union-attr]
    assert client.find(client_ref="nope") is None
    client.submit(_job("no-such-shop", "F-2", client_ref="om-4712"))
    cli = [sys.executable, "-m", "cancelq.cli.main"]
    shown = subprocess.run([*cli, "events", "tail", "--json"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [e["type"] for e in lines] == ["cancel.rejected"] and lines[0]["data"]["client_ref"] == "om-4712"
    found = subprocess.run([*cli, "job", "find", "--ref", "om-4711", "--json"], capture_output=True, text=True,
                           timeout=60)
    assert found.returncode == 0 and json.loads(found.stdout)["job_id"] == handle.job_id
    missing = subprocess.run([*cli, "job", "find", "--ref", "nope"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no job for client_ref 'nope'" in missing.stderr
