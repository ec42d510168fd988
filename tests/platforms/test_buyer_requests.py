"""Buyers' cancel requests against the adapters over real HTTP: the sandbox's buyer-cancel, the platforms' accept
calls (Shopee handle_buyer_cancellation, Lazada InitReverseOrderCancelDecide) and what a REJECT puts back."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from lazop_sdk import LazopClient, LazopRequest

from cancelq.platforms.base import Action, CancelRequest, OrderState, Outcome, Platform
from cancelq.platforms.errors import PermanentError
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.platforms.shopee import base_string, sign
from cancelq.sandbox.control import SandboxClient, SandboxError
from tests.kits import Kit
from tests.kits import lazada as lz
from tests.kits import shopee as sp
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE
from tests.platforms.test_contract import run_flow

ORDER = "31202"
BUYER_KITS = [SHOPEE, LAZADA]


def _adapter(kit: Kit, sandbox: SandboxClient, url: str, session: requests.Session, **order: Any) -> Platform:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    sandbox.add_order(kit.platform, kit.shop_ref, ORDER, **({"state": "cancellable"} | order))
    return build_adapter(kit.platform, kit.credentials, base_url=url, session=session)


def _accept() -> CancelRequest:
    return CancelRequest(order_id=ORDER, reason=Reason.CUSTOMER_REQUEST, action=Action.ACCEPT_BUYER_CANCEL)


def _cancel() -> CancelRequest:
    return CancelRequest(order_id=ORDER, reason=Reason.CUSTOMER_REQUEST)


def _reject(kit: Kit, sandbox: SandboxClient, url: str) -> None:
    """The seller's REJECT, sent as each platform's own client would (Lazada: its official SDK)."""
    if kit.platform == "lazada":
        decide = LazopRequest("/order/reverse/cancel/seller/decide", "GET")
        reverse_id = sandbox.order("lazada", ORDER)["items"][0]["reverse_order_id"]
        decide.add_api_param("reverse_order_id", reverse_id)
        decide.add_api_param("agree_cancel", "false")
        body = LazopClient(url + "/rest", lz.APP_KEY, lz.APP_SECRET).execute(decide, lz.ACCESS_TOKEN).body
        assert body["code"] == "0", body
        return
    path = "/api/v2/order/handle_buyer_cancellation"
    ts = int(time.time())
    base = base_string(partner_id=sp.PARTNER_ID, path=path, timestamp=ts, access_token=sp.ACCESS_TOKEN,
                       shop_id=sp.SHOP_ID)
    query = {"partner_id": sp.PARTNER_ID, "timestamp": ts, "access_token": sp.ACCESS_TOKEN, "shop_id": sp.SHOP_ID,
             "sign": sign(sp.PARTNER_KEY, base)}
    answer = requests.post(url + path, params=query, data=json.dumps({"order_sn": ORDER, "operation": "REJECT"}),
                           headers={"Content-Type": "application/json"}, timeout=5).json()
    assert answer["error"] == "", answer


@pytest.fixture(params=BUYER_KITS, ids=lambda k: k.platform)
def kit(request: pytest.FixtureRequest) -> Kit:
    return request.param  # type: ignore[no-any-return]


def test_a_buyer_request_is_accepted_once(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                          http_session: requests.Session) -> None:
    adapter = _adapter(kit, sandbox, sandbox_url, http_session)
    sandbox.buyer_cancel(kit.platform, ORDER, reason="Found a better price")
    assert adapter.read_status(_cancel()).state is OrderState.IN_CANCEL
    plan = adapter.plan(_accept())
    assert not plan[0].writes and [s.name for s in plan if s.writes] == ["accept"]  # a read first, one write
    assert run_flow(adapter, _accept()) is Outcome.SUCCEEDED
    view = sandbox.order(kit.platform, ORDER)
    assert kit.is_cancelled(view) and view["cancels_applied"] == 1
    assert run_flow(adapter, _accept()) is Outcome.ALREADY_CANCELLED
    assert sandbox.order(kit.platform, ORDER)["cancels_applied"] == 1
    assert not any(c in sandbox.order(kit.platform, ORDER)["calls"] for c in ("cancel_order", "InitReverseOrderCancel"))


def test_a_rejected_request_puts_the_order_back(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                http_session: requests.Session) -> None:
    adapter = _adapter(kit, sandbox, sandbox_url, http_session)
    sandbox.buyer_cancel(kit.platform, ORDER)
    _reject(kit, sandbox, sandbox_url)
    assert adapter.read_status(_cancel()).state is OrderState.CANCELLABLE
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, _accept())
    assert caught.value.code == "no_buyer_request"
    assert sandbox.order(kit.platform, ORDER)["cancels_applied"] == 0
    assert run_flow(adapter, _cancel()) is Outcome.SUCCEEDED  # the seller's own cancel still works


def test_a_cancel_of_a_requested_order_accepts_instead(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                       http_session: requests.Session) -> None:
    adapter = _adapter(kit, sandbox, sandbox_url, http_session)
    sandbox.buyer_cancel(kit.platform, ORDER)
    preview = adapter.preview(_cancel())
    assert preview.state is OrderState.IN_CANCEL and "accept" in " ".join(preview.side_effects).lower()
    assert run_flow(adapter, _cancel()) is Outcome.SUCCEEDED
    view = sandbox.order(kit.platform, ORDER)
    assert view["cancels_applied"] == 1 and kit.is_cancelled(view)
    if kit.platform == "shopee":  # cancel_order is refused on IN_CANCEL; the one read after it accepts instead
        assert view["history"][-1] == "handle_buyer_cancellation ACCEPT" and view["extra"]["cancel_by"] == "buyer"
    else:  # the items read shows the request: no seller cancel is sent
        assert "InitReverseOrderCancel" not in view["calls"]


def test_lazada_accepts_the_request_and_cancels_the_other_items(sandbox: SandboxClient, sandbox_url: str,
                                                                 http_session: requests.Session) -> None:
    adapter = _adapter(LAZADA, sandbox, sandbox_url, http_session)
    first = int(sandbox.order("lazada", ORDER)["items"][0]["order_item_id"])
    sandbox.buyer_cancel("lazada", ORDER, order_item_ids=[first])
    with pytest.raises(SandboxError, match="400"):
        sandbox.buyer_cancel("lazada", ORDER, order_item_ids=[first])
    assert run_flow(adapter, _cancel()) is Outcome.SUCCEEDED
    view = sandbox.order("lazada", ORDER)
    assert [i["status"] for i in view["items"]] == ["canceled", "canceled"]
    assert view["calls"]["InitReverseOrderCancelDecide"] == 1 and view["calls"]["InitReverseOrderCancel"] == 1
    assert [i["cancel_return_initiator"] for i in view["items"]] == ["cancellation-customer", "cancellation-seller"]


def test_an_accept_with_no_request_is_refused_before_any_write(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                                              http_session: requests.Session) -> None:
    adapter = _adapter(kit, sandbox, sandbox_url, http_session)
    assert adapter.preview(_accept()).state is OrderState.NOT_CANCELLABLE
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, _accept())
    assert caught.value.code == "no_buyer_request" and "no buyer cancellation request" in caught.value.message
    assert not {"handle_buyer_cancellation", "InitReverseOrderCancelDecide"} & set(sandbox.order(kit.platform,
                                                                                                 ORDER)["calls"])


def test_shipping_closes_a_request(kit: Kit, sandbox: SandboxClient, sandbox_url: str,
                                   http_session: requests.Session) -> None:
    adapter = _adapter(kit, sandbox, sandbox_url, http_session)
    if kit.platform == "shopee":  # Shopee: a shipped order takes no request at all
        sandbox.ship("shopee", ORDER)
        with pytest.raises(SandboxError, match="before it ships"):
            sandbox.buyer_cancel("shopee", ORDER)
        return
    sandbox.buyer_cancel("lazada", ORDER)
    sandbox.ship("lazada", ORDER)
    assert adapter.read_status(_accept()).state is OrderState.NOT_CANCELLABLE
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, _accept())
    assert caught.value.code == "not_cancellable"


@pytest.mark.parametrize("kit", [SHOPLINE, SHOPLAZZA], ids=lambda k: k.platform)
def test_platforms_without_buyer_requests_refuse_the_sandbox_call(kit: Kit, sandbox: SandboxClient) -> None:
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    sandbox.add_order(kit.platform, kit.shop_ref, ORDER, state="cancellable")
    with pytest.raises(SandboxError, match=f"400.*{kit.platform} has no buyer cancel requests"):
        sandbox.buyer_cancel(kit.platform, ORDER)
    assert sandbox.order(kit.platform, ORDER)["history"] == []
