"""The console's actions over real HTTP: xsrf, operators, --read-only, a replay a real worker takes to
``succeeded``, bulk actions with their confirmation and cap, shops' controls; each written to the audit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import redis

from cancelq.core import keys
from cancelq.jobs.deadletters import DeadLetters
from cancelq.jobs.intake import admit
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.deliveries import run_until_final
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.jobs.test_deadletter_pages import fill_old_store
from tests.kits.shopee import KIT as SHOPEE
from tests.ops.console.server import ConsoleServer


def _exhausted(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, order_id: str = "CON-1") -> str:
    """A job dead-lettered as exhausted by error_network on every cancel; the fault is cleared after."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state="cancellable")
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_network",
                  message="Inner http call failed", times=None)
    admitted = admit(rt, {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"})
    assert run_until_final(rt, admitted.job_id).state == "dead"
    sandbox.clear_faults()
    return admitted.job_id


def _console_events(rt: Runtime) -> list[dict[str, object]]:
    return [e.data for e in rt.events.recent(count=1000, types=["console.action"])]


def test_a_post_without_the_xsrf_token_is_refused_and_changes_nothing(
        console: ConsoleServer, rt: Runtime, redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 10)
    ops = console.session()

    missing = ops.post("/cancelq/dead/act", {"action": "purge", "job": "big00000000000000001"}, token=False)
    forged = ops.post("/cancelq/dead/act", {"action": "purge", "job": "big00000000000000001", "_xsrf": "2|forged"},
                      token=False)

    assert missing.status_code == 403 and "_xsrf" in missing.text
    assert forged.status_code == 403
    assert rt.dead_letters.size() == 10 and rt.redis.xlen(keys.AUDIT) == 0


def test_a_user_not_named_an_operator_may_look_but_not_act(console: ConsoleServer, rt: Runtime,
                                                           redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 10)
    viewer = console.session("viewer")

    refused = viewer.post("/cancelq/dead/big00000000000000001/replay")
    page = viewer.get("/cancelq/dead/big00000000000000001")

    assert refused.status_code == 403 and "viewer may look but not act" in refused.text
    assert 'id="cq-replay"' not in page.text and 'id="cq-readonly"' in page.text
    assert rt.dead_letters.size() == 10 and rt.redis.xlen(keys.AUDIT) == 0


def test_read_only_turns_actions_off_for_every_operator(tmp_path: Path, rt: Runtime,
                                                        redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 3)
    server = ConsoleServer(tmp_path / "ro.log", extra=["--read-only"]).start()
    try:
        refused = server.session("ops").post("/cancelq/dead/big00000000000000001/purge")
    finally:
        server.stop()
    assert refused.status_code == 403 and "the console is read-only" in refused.text
    assert rt.dead_letters.size() == 3


def test_a_replay_from_the_console_ends_succeeded_with_its_audit_entry_and_event(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str, redis_url: str,
        tmp_path: Path) -> None:
    job_id = _exhausted(rt, sandbox, sandbox_url)
    ops = console.session()
    detail = ops.get(f"/cancelq/dead/{job_id}")
    assert 'id="cq-entry-code">error_network<' in detail.text and "Inner http call failed" in detail.text

    with WorkerProcess(tmp_path / "worker.log", redis_url):
        reply = ops.post(f"/cancelq/dead/{job_id}/replay")
        record = wait_until(lambda: (r := rt.ledger.get(job_id)) is not None and r.final and r,
                            timeout_s=30, what="the replayed job's outcome")

    assert reply.status_code == 200 and reply.url.endswith(f"/cancelq/job/{job_id}")
    assert "replayed 1 dead letter(s)" in reply.text
    assert record.state == "succeeded" and record.runs == 2
    assert rt.dead_letters.show(job_id) is None
    assert sandbox.order("shopee", "CON-1")["cancels_applied"] == 1
    [entry] = rt.redis.xrange(keys.AUDIT)
    audit_id, fields = entry
    assert fields["operator"] == "ops" and fields["action"] == "dead.replay" and fields["target"] == job_id
    assert fields["count"] == "1" and fields["address"] == "127.0.0.1"
    assert _console_events(rt) == [{"operator": "ops", "action": "dead.replay", "target": job_id, "count": 1,
                                    "address": "127.0.0.1", "audit_id": audit_id}]
    audit_page = ops.get("/cancelq/audit")
    assert f'data-audit="{audit_id}"' in audit_page.text


def test_purging_every_match_asks_first_and_takes_at_most_the_cap_per_action(
        console: ConsoleServer, rt: Runtime, redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 1200)
    DeadLetters(redis_client).ensure_indexed()
    ops = console.session()
    matching = {"action": "purge", "scope": "matching", "kind": "exhausted"}

    ask = ops.post("/cancelq/dead/act", matching)
    first = ops.post("/cancelq/dead/act", {**matching, "confirm": "yes"})
    everything = {"action": "purge", "scope": "matching", "confirm": "yes"}
    capped = ops.post("/cancelq/dead/act", everything)

    assert "Purge 400 dead letter(s)?" in ask.text and 'id="cq-confirm"' in ask.text
    assert "purged 400 dead letter(s)" in first.text
    assert "purged 500 dead letter(s); 300 more match: act again to continue" in capped.text
    assert rt.dead_letters.size() == 300
    actions = [(f["action"], json.loads(f["filter"]), f["count"]) for _, f in rt.redis.xrange(keys.AUDIT)]
    assert actions == [("dead.purge_matching", {"kind": "exhausted"}, "400"), ("dead.purge_matching", {}, "500")]


def test_selected_dead_letters_replayed_from_the_list(console: ConsoleServer, rt: Runtime,
                                                      redis_client: redis.Redis) -> None:
    fill_old_store(redis_client, 5)
    ops = console.session()
    page = ops.get("/cancelq/dead")
    ids = re.findall(r'name="job" value="([^"]+)"', page.text)

    reply = ops.post("/cancelq/dead/act", [("action", "replay"), ("job", ids[0]), ("job", ids[1])])

    assert len(ids) == 5 and "replayed 2 dead letter(s)" in reply.text
    assert rt.dead_letters.size() == 3
    ask = ops.post("/cancelq/dead/act", [("action", "purge"), ("job", ids[2])])
    assert "Purge 1 dead letter(s)?" in ask.text and rt.dead_letters.size() == 3
    purged = ops.post("/cancelq/dead/act", [("action", "purge"), ("job", ids[2]), ("confirm", "yes")])
    assert "purged 1 dead letter(s)" in purged.text and rt.dead_letters.size() == 2
    assert [(f["action"], f["count"]) for _, f in rt.redis.xrange(keys.AUDIT)] == [("dead.replay", "2"),
                                                                                   ("dead.purge", "1")]


def test_shops_page_closes_a_circuit_and_pauses_and_resumes_a_scope_naming_who(
        console: ConsoleServer, rt: Runtime, redis_client: redis.Redis) -> None:
    for _ in range(rt.settings.circuit_shop_threshold):
        rt.circuits.failure("shopee", "sg-main")
    ops = console.session()
    assert 'data-circuit="shopee:sg-main"' in ops.get("/cancelq/shops").text

    closed = ops.post("/cancelq/shops/close-circuit", {"circuit": "shopee:sg-main"})
    paused = ops.post("/cancelq/shops/pause", {"scope": "shop:shopee/sg-main", "reason": "seller asked"})
    bad = ops.post("/cancelq/shops/pause", {"scope": "galaxy:far"})

    assert "closed the circuit shopee:sg-main" in closed.text and 'data-circuit="shopee:sg-main"' not in closed.text
    assert re.search(r'data-scope="shop:shopee/sg-main">.*?seller asked</td><td>ops</td>', paused.text, re.S)
    assert bad.status_code == 400 and "unknown scope" in bad.text
    resumed = ops.post("/cancelq/shops/resume", {"scope": "shop:shopee/sg-main"})
    assert "resumed shop:shopee/sg-main" in resumed.text and 'data-scope="shop:shopee/sg-main"' not in resumed.text
    assert [f["action"] for _, f in rt.redis.xrange(keys.AUDIT)] == ["circuit.close", "scope.pause", "scope.resume"]
    assert [e.type for e in rt.events.recent(count=100, types=["circuit.*"])][-1] == "circuit.closed"


def test_shops_page_shows_a_shop_parked_by_a_configuration_fault_with_the_platforms_words(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    from cancelq.platforms.errors import ConfigError

    name = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, name="sg-parked")
    ops = console.session()
    assert 'data-shop="shopee/sg-parked"' not in ops.get("/cancelq/shops").text
    shop = rt.shops.get("shopee", name, fresh=True)
    assert shop is not None
    fault = ConfigError("Wrong sign.", scope="shop", platform="shopee", step="cancel", code="error_sign",
                        request_id="req-77")
    assert rt.parking.park(shop, fault) == ["sg-parked"]
    page = ops.get("/cancelq/shops").text
    row = re.search(r'<tr data-shop="shopee/sg-parked">(.*?)</tr>', page, re.S)
    assert row is not None and "error_sign" in row.group(1) and "Wrong sign." in row.group(1) and "req-77" in row.group(1)
    assert "cancelq resume shop:PLATFORM/NAME" in page
    assert all(str(v) not in page for v in SHOPEE.credentials.values() if len(str(v)) > 6)
