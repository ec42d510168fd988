"""The sandbox pushing like the platforms: signed bodies (checked here with plain hmac, not cancelq's code), on
every kind of order change, from the background, retried on the platform's (scaled) schedule, duplicated and
held back on demand, and Shopee's lost pushes listed and confirmed through its signed v2.push API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cancelq.core.embedded import free_port
from cancelq.platforms.registry import build_adapter
from cancelq.sandbox.control import SandboxClient
from tests.helpers import wait_until
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shopee import PARTNER_ID, PARTNER_KEY
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE
from tests.platforms.push_sink import PushSink
from tests.platforms.test_contract import REASON, run_flow

KITS = {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}
CALLBACK = "https://cancelq.example.com/pushes/shopee"


@pytest.fixture()
def sink() -> Iterator[PushSink]:
    receiving = PushSink()
    yield receiving
    receiving.close()


def _hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _b64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def signature_ok(platform: str, body: bytes, headers: dict[str, str]) -> bool:
    spec = KITS[platform].shop_spec
    expected = {
        "shopee": lambda: _hex(PARTNER_KEY, CALLBACK.encode() + b"|" + body),
        "lazada": lambda: _hex(spec["app_secret"], spec["app_key"].encode() + body),
        "shopline": lambda: _b64(spec["app_secret"], body),
        "shoplazza": lambda: _b64(spec["client_secret"], body),
    }[platform]()
    header = {"shopee": "authorization", "lazada": "authorization", "shopline": "x-shopline-hmac-sha256",
              "shoplazza": "x-shoplazza-hmac-sha256"}[platform]
    return hmac.compare_digest(expected, headers.get(header, ""))


def seeded(sandbox: SandboxClient, kit: Kit, sink: PushSink, order_id: str = "PUSH-1", **options: Any) -> None:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    sandbox.add_order(kit.platform, kit.shop_ref, order_id)
    sandbox.push_target(kit.platform, kit.shop_ref, sink.url, callback_url=CALLBACK, **options)


def delivered(sandbox: SandboxClient, n: int) -> list[dict[str, Any]]:
    pushes = sandbox.pushes(state="delivered")
    return pushes if len(pushes) >= n else []


@pytest.mark.parametrize("platform", list(KITS))
def test_a_seller_center_cancel_is_pushed_signed_in_the_platforms_shape(
        platform: str, sandbox: SandboxClient, sink: PushSink) -> None:
    kit = KITS[platform]
    seeded(sandbox, kit, sink)

    sandbox.cancel_elsewhere(platform, "PUSH-1")

    lines = 2 if platform == "lazada" else 1  # Lazada pushes each order line
    wait_until(lambda: delivered(sandbox, lines), timeout_s=10, what="the pushes")
    assert len(sink.received) == lines
    for push in sink.received:
        assert signature_ok(platform, push["body"], push["headers"])
        body = json.loads(push["body"])
        if platform == "shopee":
            assert (body["code"], body["shop_id"], body["data"]["ordersn"]) == (3, SHOPEE.shop_spec["shop_id"],
                                                                               "PUSH-1")
            assert body["data"]["status"] == "CANCELLED" and body["msg_id"]
        elif platform == "lazada":
            assert (body["seller_id"], body["message_type"]) == (LAZADA.shop_ref, 0)
            assert body["data"]["order_status"] == "canceled" and body["data"]["trade_order_id"] == "PUSH-1"
        else:
            prefix = f"x-{platform}-"
            assert push["headers"][prefix + "topic"] == "orders/cancelled" and body["id"] == "PUSH-1"
            assert push["headers"][prefix + "shop-domain"].startswith("kit-store.")


@pytest.mark.parametrize("platform", list(KITS))
def test_our_own_api_cancel_and_a_ship_are_pushed_too(platform: str, sandbox: SandboxClient, sandbox_url: str,
                                                      sink: PushSink, http_session: requests.Session) -> None:
    from cancelq.platforms.base import CancelRequest

    kit = KITS[platform]
    seeded(sandbox, kit, sink)
    sandbox.add_order(platform, kit.shop_ref, "PUSH-2")
    adapter = build_adapter(platform, kit.credentials, base_url=sandbox_url, session=http_session)

    run_flow(adapter, CancelRequest(order_id="PUSH-1", reason=REASON, note="push test", options=kit.order_options))
    sandbox.ship(platform, "PUSH-2")

    lines = 2 if platform == "lazada" else 1
    pushes = wait_until(lambda: delivered(sandbox, 2 * lines), timeout_s=10, what="two orders' pushes")
    assert sorted({p["order_id"] for p in pushes}) == ["PUSH-1", "PUSH-2"]
    assert all(signature_ok(platform, p["body"], p["headers"]) for p in sink.received)
    reads = [p for p in pushes if p["order_id"] == "PUSH-1"]
    assert len(reads) == lines  # the reads before the cancel changed nothing: nothing pushed for them


def test_a_failed_delivery_is_retried_on_the_scaled_schedule_until_answered(sandbox: SandboxClient) -> None:
    failing = PushSink(fail_first=2)
    try:
        seeded(sandbox, SHOPLAZZA, failing, retry_scale=0.0005)
        sandbox.cancel_elsewhere("shoplazza", "PUSH-1")

        [push] = wait_until(lambda: delivered(sandbox, 1), timeout_s=10, what="the retried push")
    finally:
        failing.close()
    assert push["answers"] == ["500", "500", "200"] and push["attempts"] == 3


def test_duplicates_and_held_back_pushes_are_the_same_message(sandbox: SandboxClient, sink: PushSink) -> None:
    seeded(sandbox, SHOPLINE, sink, duplicate_share=1.0, reorder_share=1.0, reorder_delay_ms=20, seed=7)

    sandbox.cancel_elsewhere("shopline", "PUSH-1")

    pushes = wait_until(lambda: delivered(sandbox, 2), timeout_s=10, what="the push and its duplicate")
    assert [p["duplicate"] for p in pushes] == [False, True]
    assert len({p["message_id"] for p in pushes}) == 1 and all(p["held_ms"] == 20 for p in pushes)
    assert sink.bodies()[0] == sink.bodies()[1]


def test_an_order_change_never_waits_for_its_push(sandbox: SandboxClient, sink: PushSink) -> None:
    seeded(sandbox, SHOPEE, sink)
    sink.hold.clear()

    sandbox.cancel_elsewhere("shopee", "PUSH-1")

    assert [p["state"] for p in sandbox.pushes()] == ["pending"]
    sink.hold.set()
    wait_until(lambda: delivered(sandbox, 1), timeout_s=10, what="the held push")


def _shopee_public(sandbox_url: str, path: str) -> str:
    timestamp = int(time.time())
    sign = _hex(PARTNER_KEY, f"{PARTNER_ID}{path}{timestamp}".encode())
    return f"{sandbox_url}{path}?partner_id={PARTNER_ID}&timestamp={timestamp}&sign={sign}"


def _shopee_shop_signed(sandbox_url: str, path: str) -> str:
    from tests.kits.shopee import ACCESS_TOKEN, SHOP_ID

    timestamp = int(time.time())
    sign = _hex(PARTNER_KEY, f"{PARTNER_ID}{path}{timestamp}{ACCESS_TOKEN}{SHOP_ID}".encode())
    return (f"{sandbox_url}{path}?partner_id={PARTNER_ID}&timestamp={timestamp}&sign={sign}"
            f"&access_token={ACCESS_TOKEN}&shop_id={SHOP_ID}")


def test_shopee_pushes_that_never_arrived_are_lost_pushes_until_confirmed(
        sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/pushes/shopee"
    sandbox.add_shop("shopee", **SHOPEE.shop_spec)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "LOST-1")
    sandbox.push_target("shopee", "*", nowhere, callback_url=CALLBACK, retry_scale=0.0001)
    get_path, confirm_path = "/api/v2/push/get_lost_push_message", "/api/v2/push/confirm_consumed_lost_push_message"

    sandbox.cancel_elsewhere("shopee", "LOST-1")

    [failed] = wait_until(lambda: sandbox.pushes(state="failed"), timeout_s=10, what="the push to fail")
    assert failed["attempts"] == 4
    listed = http_session.get(_shopee_public(sandbox_url, get_path), timeout=10).json()
    assert listed["error"] == "" and listed["response"]["has_next_page"] is False
    [lost] = listed["response"]["push_message_list"]
    assert (lost["shop_id"], lost["code"]) == (SHOPEE.shop_spec["shop_id"], 3)
    assert json.loads(lost["data"])["data"]["ordersn"] == "LOST-1"
    last = listed["response"]["last_message_id"]
    confirmed = http_session.post(_shopee_public(sandbox_url, confirm_path), json={"last_message_id": last},
                                  timeout=10).json()
    assert confirmed["error"] == ""
    again = http_session.get(_shopee_shop_signed(sandbox_url, get_path), timeout=10).json()
    assert again["error"] == "" and again["response"]["push_message_list"] == []
    unsigned = http_session.get(f"{sandbox_url}{get_path}?partner_id={PARTNER_ID}", timeout=10).json()
    assert unsigned["error"] == "error_param"


def test_a_buyer_request_told_to_the_store_is_pushed_as_each_platform_tells_it(sink: PushSink) -> None:
    import asyncio

    from cancelq.sandbox.pushes import Pusher, Target
    from cancelq.sandbox.state import Order, Shop, Store

    store = Store()
    pusher = Pusher(store)
    store.listeners.append(pusher)
    store.add_shop(Shop("shopee", SHOPEE.shop_ref, {"partner_key": PARTNER_KEY}))
    store.add_shop(Shop("lazada", LAZADA.shop_ref, dict(LAZADA.shop_spec)))
    asked = {"order_item_id": 11, "status": "pending", "need_cancel_confirm": True}
    orders = [Order("shopee", SHOPEE.shop_ref, "BUYER-1", "IN_CANCEL"),
              Order("lazada", LAZADA.shop_ref, "BUYER-2", "pending",
                    items=[asked, {"order_item_id": 12, "status": "pending"}])]
    for platform in ("shopee", "lazada"):
        pusher.targets.append(Target.of({"platform": platform, "shop": "*", "url": sink.url, "callback_url": CALLBACK}))

    async def tell_and_wait() -> None:
        for order in orders:
            store.changed(order, "buyer_request")
        deadline = time.monotonic() + 10
        while any(d.state == "pending" for d in pusher.deliveries) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling the deliveries' state, with a deadline
        await pusher.close()

    asyncio.run(tell_and_wait())

    assert [d.state for d in pusher.deliveries] == ["delivered", "delivered"]
    shopee, lazada = (json.loads(b) for b in sorted(sink.bodies(), key=lambda b: b"seller_id" in b))
    assert shopee["data"]["status"] == "IN_CANCEL" and shopee["data"]["ordersn"] == "BUYER-1"
    assert (lazada["message_type"], lazada["data"]["reverse_status"]) == (10, "CANCEL_INIT")
    assert lazada["data"]["trade_order_line_id"] == "11"  # only the line the buyer asked about
    with pytest.raises(ValueError, match="not one of"):
        store.changed(orders[0], "refund")


def test_push_targets_are_listed_removed_and_checked(sandbox: SandboxClient, sink: PushSink) -> None:
    from cancelq.sandbox.control import SandboxError

    sandbox.push_target("shopee", "*", sink.url, retry_scale=0.5)
    sandbox.push_target("lazada", LAZADA.shop_ref, sink.url)

    assert [(t["platform"], t["shop"], t["retry_scale"]) for t in sandbox.push_targets()] == [
        ("shopee", "*", 0.5), ("lazada", LAZADA.shop_ref, 0.001)]
    assert sandbox.remove_push_targets(platform="lazada") == 1
    assert [t["platform"] for t in sandbox.push_targets()] == ["shopee"]
    assert sandbox.remove_push_targets() == 1 and sandbox.push_targets() == []
    with pytest.raises(SandboxError, match="400"):
        sandbox.push_target("shopee", "*", "ftp://nowhere")
    with pytest.raises(SandboxError, match="shares"):
        sandbox.push_target("shopee", "*", sink.url, duplicate_share=2)
