"""The sandbox's pushes into the real receiver over HTTP: seller-center cancels on all four platforms arrive in
``keys.PUSHES`` once each, whatever the sandbox duplicates or holds back; a push signed with a secret the registry
does not hold is a rejected record, without its signature."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cancelq.core import keys
from cancelq.pushes import counts
from cancelq.pushes.notice import PushNotice
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.api.server import ApiServer
from tests.helpers import wait_until
from tests.pushes.receiving.conftest import PUBLIC_URL
from tests.pushes.receiving.kits import KITS

ORDERS = ("E2E-1", "E2E-2", "E2E-3")


def settled(sandbox: SandboxClient, n: int) -> list[dict[str, Any]]:
    pushes = sandbox.pushes()
    done = len(pushes) >= n and all(p["state"] != "pending" for p in pushes)
    return pushes if done else []


def test_seller_center_cancels_arrive_once_each_despite_duplicates_and_reorders(
        rt: Runtime, push_shops: dict[str, str], server: ApiServer, sandbox: SandboxClient) -> None:
    for platform, kit in KITS.items():
        sandbox.add_shop(platform, **kit.shop_spec)
        for order_id in ORDERS:
            sandbox.add_order(platform, kit.shop_ref, order_id)
        sandbox.push_target(platform, kit.shop_ref, f"{server.url}/pushes/{platform}", seed=3,
                            callback_url=f"{PUBLIC_URL}/pushes/{platform}", duplicate_share=0.5, reorder_share=0.5,
                            reorder_delay_ms=30)

    for order_id in ORDERS:
        for platform in KITS:
            sandbox.cancel_elsewhere(platform, order_id)

    messages = 3 * 3 + 3 * 2  # Lazada pushes each of an order's two lines
    pushes = wait_until(lambda: settled(sandbox, messages), timeout_s=15, what="every push answered")
    assert all(p["state"] == "delivered" for p in pushes), [p for p in pushes if p["state"] != "delivered"]
    duplicates = Counter(p["platform"] for p in pushes if p["duplicate"])
    assert sum(duplicates.values()) > 0 and any(p["held_ms"] for p in pushes)
    kept = [PushNotice.from_fields(f) for _, f in rt.redis.xrange(keys.PUSHES)]
    assert len(kept) == messages
    named = {(n.platform, n.message_id) for n in kept if n.platform != "lazada"}  # Lazada's ids are our digests
    assert named == {(p["platform"], p["message_id"]) for p in pushes if p["platform"] != "lazada"}
    per_order = Counter((n.platform, n.order_id) for n in kept)
    assert per_order == {(p, o): 2 if p == "lazada" else 1 for p in KITS for o in ORDERS}
    assert all(n.shop == push_shops[n.platform] and n.kind == "status" for n in kept)
    totals = counts.read(rt.redis, window_s=600).totals
    assert {p: totals.get((p, "duplicate"), 0) for p in KITS} == {p: duplicates[p] for p in KITS}


def test_pushes_signed_with_a_secret_the_registry_does_not_hold_are_rejected_records(
        rt: Runtime, push_shops: dict[str, str], server: ApiServer, sandbox: SandboxClient) -> None:
    forged_secret = "a-secret-cancelq-was-never-given-0123"
    spec = {**KITS["shoplazza"].shop_spec, "client_secret": forged_secret}
    sandbox.add_shop("shoplazza", **spec)
    sandbox.add_order("shoplazza", spec["shop"], "FORGED-1")
    sandbox.push_target("shoplazza", "*", f"{server.url}/pushes/shoplazza", max_attempts=1)

    sandbox.cancel_elsewhere("shoplazza", "FORGED-1")

    [push] = wait_until(lambda: sandbox.pushes(state="failed"), timeout_s=10, what="the refused push")
    assert push["answers"] == ["401"]
    assert rt.redis.xlen(keys.PUSHES) == 0
    [(_, record)] = rt.redis.xrange(keys.PUSHES_REJECTED)
    assert record["reason"] == "bad_signature" and record["claimed"] == "kit-store"
    assert forged_secret not in str(record) and "hmac" not in " ".join(record).lower()


def test_a_buyers_cancel_request_in_the_sandbox_arrives_as_a_buyer_request(
        rt: Runtime, push_shops: dict[str, str], server: ApiServer, sandbox: SandboxClient) -> None:
    for platform in ("shopee", "lazada"):
        kit = KITS[platform]
        sandbox.add_shop(platform, **kit.shop_spec)
        sandbox.add_order(platform, kit.shop_ref, "ASK-1")
        sandbox.push_target(platform, kit.shop_ref, f"{server.url}/pushes/{platform}",
                            callback_url=f"{PUBLIC_URL}/pushes/{platform}")
    line = sandbox.order("lazada", "ASK-1")["items"][0]["order_item_id"]

    sandbox.buyer_cancel("shopee", "ASK-1", reason="changed my mind")
    sandbox.buyer_cancel("lazada", "ASK-1", order_item_ids=[line])

    wait_until(lambda: settled(sandbox, 2), timeout_s=10, what="the buyer requests' pushes")
    kept = sorted((PushNotice.from_fields(f) for _, f in rt.redis.xrange(keys.PUSHES)), key=lambda n: n.platform)
    assert [(n.platform, n.order_id, n.kind, n.status) for n in kept] == [
        ("lazada", "ASK-1", "buyer_request", "CANCEL_INIT"), ("shopee", "ASK-1", "buyer_request", "IN_CANCEL")]
