"""Shopee's lost-push client (``v2.push.get_lost_push_message`` then ``confirm_consumed_lost_push_message``), over
real HTTP against a stand-in for Shopee's two endpoints that checks each request as Shopee documents it (a
partner-level signature: HMAC-SHA256 of partner_id + path + timestamp, no shop token), and against the sandbox's
own lost-push endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import pytest

from cancelq.core import keys
from cancelq.platforms.registry import build_adapter
from cancelq.platforms.shopee.adapter import ShopeeAdapter
from cancelq.platforms.shopee.push import confirm_consumed_lost_push_message, get_lost_push_message
from cancelq.pushes.lost import LostPushes
from cancelq.pushes.notice import PushNotice
from cancelq.runtime import Runtime
from tests.kits.shopee import ACCESS_TOKEN, CREDENTIALS, PARTNER_ID, PARTNER_KEY, SHOP_ID

LOST = {"push_message_list": [
    {"shop_id": SHOP_ID, "msg_id": 41, "timestamp": 1764590000, "data": json.dumps(
        {"data": {"items": [], "ordersn": "LOST-1", "status": "CANCELLED", "update_time": 1764589990},
         "shop_id": SHOP_ID, "code": 3, "timestamp": 1764589990})},
    {"msg_id": 42, "timestamp": 1764590001, "data": json.dumps({"code": 12, "data": {"expire_time": 1}})},
], "has_next_page": False, "last_message_id": 42}


class StandIn(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def answer(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"method": self.command, "path": url.path, "query": query, "body": body})
        expected = hmac.new(PARTNER_KEY.encode(), f"{PARTNER_ID}{url.path}{query.get('timestamp')}".encode(),
                            hashlib.sha256).hexdigest()
        if query.get("sign") != expected:
            reply: dict[str, Any] = {"error": "error_sign", "message": "Wrong sign.", "request_id": "r-bad"}
        elif url.path.endswith("get_lost_push_message"):
            reply = {"error": "", "message": "", "request_id": "r-lost", "response": LOST}
        else:
            reply = {"error": "", "message": "", "request_id": "r-confirm", "response": {}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def shopee() -> Iterator[str]:
    StandIn.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lost_pushes_are_listed_then_confirmed_with_a_partner_signature(shopee: str) -> None:
    adapter = cast(ShopeeAdapter, build_adapter("shopee", CREDENTIALS, base_url=shopee))
    page = get_lost_push_message(adapter)
    assert page.request_id == "r-lost" and page.last_message_id == 42 and not page.has_next_page
    order, partner = page.messages
    assert order.order_status == ("LOST-1", "CANCELLED", 1764589990) and order.shop_id == SHOP_ID
    assert partner.order_status is None and partner.shop_id is None
    assert confirm_consumed_lost_push_message(adapter, page.last_message_id) == "r-confirm"
    listed, confirmed = StandIn.seen
    assert (listed["method"], listed["path"]) == ("GET", "/api/v2/push/get_lost_push_message")
    assert (confirmed["method"], confirmed["path"]) == ("POST", "/api/v2/push/confirm_consumed_lost_push_message")
    assert json.loads(confirmed["body"]) == {"last_message_id": 42}
    for call in StandIn.seen:
        assert "access_token" not in call["query"] and "shop_id" not in call["query"]
        assert call["query"]["partner_id"] == str(PARTNER_ID)
        assert ACCESS_TOKEN not in json.dumps(call["query"])


def test_a_round_keeps_the_lost_order_pushes_once_then_confirms_them(shopee: str, rt: Runtime) -> None:
    rt.shops.add("shopee", "sg-main", dict(CREDENTIALS), base_url=shopee)
    shop = rt.shops.get("shopee", "sg-main")
    assert shop is not None
    assert LostPushes(rt).take([shop]) == 1
    [(_, fields)] = rt.redis.xrange(keys.PUSHES)
    notice = PushNotice.from_fields(fields)
    assert (notice.shop, notice.order_id, notice.kind, notice.status, notice.message_id) == \
        ("sg-main", "LOST-1", "status", "CANCELLED", "41")
    assert notice.pushed_at_ms == 1764589990_000
    assert [c["path"].rsplit("/", 1)[1] for c in StandIn.seen] == ["get_lost_push_message",
                                                                  "confirm_consumed_lost_push_message"]
    assert LostPushes(rt).take([shop]) == 0, "a message Shopee lists again is kept once"
    assert rt.redis.xlen(keys.PUSHES) == 1


def test_a_push_the_sandbox_could_not_deliver_is_taken_from_its_lost_list_once(
        redis_client: Any, sandbox: Any, sandbox_url: str) -> None:
    """Against the sandbox's own lost-push endpoints: a push it gave up on (no receiver) is kept once into the
    stream, and confirmed consumed, so the next round finds nothing."""
    from tests.helpers import add_kit_shop, wait_until
    from tests.kits.shopee import KIT

    rt = Runtime()
    shop = add_kit_shop(KIT, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", KIT.shop_ref, "LOST-9", state="cancellable")
    sandbox.push_target("shopee", KIT.shop_ref, "http://127.0.0.1:9/pushes/shopee", max_attempts=1)
    sandbox.cancel_elsewhere("shopee", "LOST-9")
    wait_until(lambda: sandbox.pushes(state="failed"), timeout_s=10, what="the push to fail: no receiver")
    registered = rt.shops.get("shopee", shop)
    assert registered is not None
    assert LostPushes(rt).take([registered]) == 1
    kept = [PushNotice.from_fields(f) for _, f in rt.redis.xrange(keys.PUSHES)]
    assert [(n.shop, n.order_id, n.status) for n in kept] == [(shop, "LOST-9", "CANCELLED")]
    assert LostPushes(rt).take([registered]) == 0
    rt.session.close()
