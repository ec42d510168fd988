"""Shopee: signing vectors, the sandbox's gateway checks, the cancel flow and its quirks, error classification."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from cancelq.platforms.base import CancelRequest, OrderState, Outcome, StepResult
from cancelq.platforms.errors import (
    AlreadyCancelled,
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from cancelq.platforms.http import HttpClient, Timeouts
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.platforms.shopee import (
    ShopeeAdapter,
    ShopeeCredentials,
    base_string,
    classify,
    next_quota_reset,
    sign,
)
from cancelq.sandbox.control import SandboxClient
from tests.kits.shopee import ACCESS_TOKEN, CREDENTIALS, KIT, PARTNER_ID, PARTNER_KEY, SHOP_ID

SHOP = str(SHOP_ID)
DETAIL = "/api/v2/order/get_order_detail"
CANCEL = "/api/v2/order/cancel_order"


# --- fixtures and helpers -----------------------------------------------------------------------------------


@pytest.fixture()
def shop(sandbox: SandboxClient) -> SandboxClient:
    sandbox.add_shop("shopee", **CREDENTIALS)
    return sandbox


@pytest.fixture()
def make_adapter(sandbox_url: str, http_session: requests.Session) -> Iterator[Callable[..., ShopeeAdapter]]:
    def make(clock: Callable[[], float] = time.time, timeouts: Timeouts | None = None,
             throttle: Callable[[str], None] | None = None, **overrides: Any) -> ShopeeAdapter:
        creds = ShopeeCredentials.from_mapping({**CREDENTIALS, **overrides})
        http = HttpClient(platform="shopee", session=http_session, timeouts=timeouts or Timeouts(), throttle=throttle,
                          secrets=creds.secrets)
        return ShopeeAdapter(credentials=creds, http=http, base_url=sandbox_url, clock=clock)
    yield make


@pytest.fixture()
def adapter(make_adapter: Callable[..., ShopeeAdapter]) -> ShopeeAdapter:
    return make_adapter()


def run_flow(adapter: ShopeeAdapter, request: CancelRequest) -> StepResult:
    """Run the plan's steps like the orchestrator does, stopping at an outcome."""
    state: dict[str, Any] = {}
    result = StepResult()
    for step in adapter.plan(request):
        result = adapter.run_step(step.name, request, state)
        json.dumps(result.data)  # step data must be storable as JSON
        state[step.name] = result.data
        if result.outcome is not None:
            break
    return result


def signed_query(path: str, *, partner_key: str = PARTNER_KEY, timestamp: int | None = None,
                 token: str = ACCESS_TOKEN, **extra: Any) -> dict[str, Any]:
    ts = int(time.time()) if timestamp is None else timestamp
    base = base_string(partner_id=PARTNER_ID, path=path, timestamp=ts, access_token=token, shop_id=SHOP_ID)
    return {"partner_id": PARTNER_ID, "timestamp": ts, "access_token": token, "shop_id": SHOP_ID,
            "sign": sign(partner_key, base), **extra}


def raw_detail(url: str, **query: Any) -> requests.Response:
    return requests.get(f"{url}{DETAIL}", params=query, timeout=5)


def oos(order_id: str, *items: dict[str, Any]) -> CancelRequest:
    return CancelRequest(order_id=order_id, reason=Reason.OUT_OF_STOCK, items=items)


def customer(order_id: str) -> CancelRequest:
    return CancelRequest(order_id=order_id, reason=Reason.CUSTOMER_REQUEST)


# --- signing --------------------------------------------------------------------------------------------------

VECTORS = [
    pytest.param(2001887, "shpk_test_partner_key_0123456789abcdef", "/api/v2/order/cancel_order", 1700000000,
                 "4c7259534969484e71734d695a6e6d55", 14701711,
                 "2001887/api/v2/order/cancel_order17000000004c7259534969484e71734d695a6e6d5514701711",
                 "21d301dce4b656c4f663b419b832a095b52012c82b99daa7f3fae7ecbf646eef", id="shop-cancel_order"),
    pytest.param(1000639, "90e0bd35c8a63d24052d2acb14ee4ae98e2f7a76e7428c3fa6e9da941960cac0",
                 "/api/v2/order/get_order_detail", 1655714431, "59777174636562737266615546704c6d", 600000,
                 "1000639/api/v2/order/get_order_detail165571443159777174636562737266615546704c6d600000",
                 "8cbc44176576b0af35881df0e83d8157ab66f9db66a1a5711cd84e8cdc57f554", id="shop-get_order_detail"),
    pytest.param(2001887, "shpk_test_partner_key_0123456789abcdef", "/api/v2/auth/access_token/get", 1700000000,
                 "", None, "2001887/api/v2/auth/access_token/get1700000000",
                 "39b473385845ab98d2f024d2f97e4e1f2dc3ffaea99d340a4343d1b33ce252cb", id="public-access_token"),
]


@pytest.mark.parametrize(("partner_id", "key", "path", "ts", "token", "shop_id", "base", "expected"), VECTORS)
def test_signing_vectors(partner_id: int, key: str, path: str, ts: int, token: str, shop_id: int | None,
                         base: str, expected: str) -> None:
    built = base_string(partner_id=partner_id, path=path, timestamp=ts, access_token=token, shop_id=shop_id)
    assert built == base
    assert sign(key, built) == expected


# --- the sandbox's gateway checks -----------------------------------------------------------------------------


def test_sandbox_answers_in_shopee_shape(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order("shopee", SHOP, "A1")
    reply = raw_detail(sandbox_url, **signed_query(DETAIL, order_sn_list="A1,NOPE",
                                                   response_optional_fields="item_list"))
    body = reply.json()
    assert reply.status_code == 200
    assert list(body) == ["error", "message", "request_id", "response"]
    assert body["error"] == "" and len(body["request_id"]) == 32
    [order] = body["response"]["order_list"]
    assert order["order_sn"] == "A1" and order["order_status"] == "READY_TO_SHIP" and order["item_list"]


def test_sandbox_rejects_a_tampered_sign(shop: SandboxClient, sandbox_url: str) -> None:
    query = signed_query(DETAIL, order_sn_list="A1")
    query["sign"] = query["sign"][:-1] + ("0" if query["sign"][-1] != "0" else "1")
    body = raw_detail(sandbox_url, **query).json()
    assert (body["error"], body["message"]) == ("error_sign", "Wrong sign.")
    assert body["request_id"]


def test_adapter_with_a_wrong_partner_key_gets_error_sign(shop: SandboxClient, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "A1")
    with pytest.raises(PermanentError) as caught:
        make_adapter(partner_key="not-the-key").read_status(customer("A1"))
    assert caught.value.code == "error_sign" and caught.value.message == "Wrong sign."
    assert caught.value.request_id and caught.value.http_status == 403


def test_sandbox_rejects_an_expired_timestamp(shop: SandboxClient, sandbox_url: str, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "A1")
    body = raw_detail(sandbox_url, **signed_query(DETAIL, timestamp=int(time.time()) - 301,
                                                  order_sn_list="A1")).json()
    assert (body["error"], body["message"]) == ("error_param", "Timestamp is expired.")
    with pytest.raises(PermanentError) as caught:
        make_adapter(clock=lambda: time.time() - 600).run_step("cancel", customer("A1"), {})
    assert type(caught.value) is ConfigError and caught.value.scope == "clock"
    assert caught.value.code == "error_param" and "Timestamp is expired" in caught.value.message
    assert shop.order("shopee", "A1")["status"] == "READY_TO_SHIP"


def test_timestamp_is_fresh_for_every_call(shop: SandboxClient, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "A1")
    ticks: list[float] = []

    def clock() -> float:
        ticks.append(time.time())
        return ticks[-1]

    adapter = make_adapter(clock=clock)
    adapter.read_status(customer("A1"))
    adapter.read_status(customer("A1"))
    assert len(ticks) == 2


def test_sandbox_rejects_a_wrong_token(shop: SandboxClient, sandbox_url: str, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "A1")
    body = raw_detail(sandbox_url, **signed_query(DETAIL, token="f" * 32, order_sn_list="A1")).json()
    assert (body["error"], body["message"]) == ("error_auth", "Invalid access_token.")
    with pytest.raises(AuthExpired) as caught:
        make_adapter(access_token="f" * 32).read_status(customer("A1"))
    assert caught.value.code == "error_auth" and caught.value.request_id


def test_expired_token_is_auth_expired(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "A1")
    shop.expire_token("shopee", SHOP, at=time.time() - 1)
    with pytest.raises(AuthExpired):
        adapter.run_step("cancel", customer("A1"), {})
    assert shop.order("shopee", "A1")["cancels_applied"] == 0


def test_unlinked_shop_needs_reauthorisation(shop: SandboxClient, make_adapter: Any) -> None:
    with pytest.raises(ReauthRequired) as caught:
        make_adapter(shop_id=999).read_status(customer("A1"))
    assert caught.value.message == "Invalid partner_id or shopid."


def test_unknown_partner_and_missing_params(shop: SandboxClient, sandbox_url: str, make_adapter: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        make_adapter(partner_id=1).read_status(customer("A1"))
    assert (caught.value.code, caught.value.message) == ("error_param", "Invalid partner_id.")
    query = signed_query(DETAIL, order_sn_list="A1")
    del query["shop_id"]
    body = raw_detail(sandbox_url, **query).json()
    assert (body["error"], body["message"]) == ("error_param", "There is no shop_id in query.")


def test_detail_batch_limits(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_orders([{"platform": "shopee", "shop": SHOP, "order_id": f"B{n}"} for n in range(3)])
    body = raw_detail(sandbox_url, **signed_query(DETAIL, order_sn_list="B0,B1,B2")).json()
    assert [o["order_sn"] for o in body["response"]["order_list"]] == ["B0", "B1", "B2"]
    too_many = ",".join(f"B{n}" for n in range(51))
    assert raw_detail(sandbox_url, **signed_query(DETAIL, order_sn_list=too_many)).json()["error"] == "error_param"


def test_sandbox_requires_item_list_for_out_of_stock(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order("shopee", SHOP, "A1")
    reply = requests.post(f"{sandbox_url}{CANCEL}", params=signed_query(CANCEL),
                          json={"order_sn": "A1", "cancel_reason": "OUT_OF_STOCK"}, timeout=5)
    assert reply.json()["error"] == "error_param" and "item_list" in reply.json()["message"]
    assert shop.order("shopee", "A1")["status"] == "READY_TO_SHIP"


# --- the cancel flow ------------------------------------------------------------------------------------------


def test_full_cancel_through_the_registry(shop: SandboxClient, sandbox_url: str,
                                          http_session: requests.Session) -> None:
    shop.add_order("shopee", SHOP, "C1")
    adapter = build_adapter("shopee", KIT.credentials, base_url=sandbox_url, session=http_session)
    request = customer("C1")
    assert [s.name for s in adapter.plan(request)] == ["cancel"]
    result = run_flow(adapter, request)
    assert result.outcome is None and result.data["operation"] == "cancel_order" and result.request_id
    view = shop.order("shopee", "C1")
    assert KIT.is_cancelled(view) and view["cancels_applied"] == 1
    assert view["extra"]["cancel_by"] == "seller"
    status = adapter.read_status(request)
    assert status.state is OrderState.CANCELLED and status.detail["cancel_by"] == "seller"


def test_out_of_stock_reads_items_then_cancels(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    items = [{"item_id": 11, "model_id": 0}, {"item_id": 12, "model_id": 1201}, {"item_id": 12, "model_id": 1201}]
    shop.add_order("shopee", SHOP, "O1", items=items)
    request = oos("O1")
    assert [(s.name, s.api, s.writes) for s in adapter.plan(request)] == [
        ("detail", "get_order_detail", False), ("cancel", "cancel_order", True)]
    result = run_flow(adapter, request)
    assert result.data["cancel_reason"] == "OUT_OF_STOCK"
    view = shop.order("shopee", "O1")
    assert view["status"] == "CANCELLED"
    assert view["extra"]["out_of_stock_items"] == [{"item_id": 11, "model_id": 0}, {"item_id": 12, "model_id": 1201}]


def test_out_of_stock_with_given_items_skips_the_read(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "O2", items=[{"item_id": 21, "model_id": 5}, {"item_id": 22, "model_id": 0}])
    request = oos("O2", {"item_id": "22"})  # no model_id: an item without variants is model 0
    assert [s.name for s in adapter.plan(request)] == ["cancel"]
    run_flow(adapter, request)
    view = shop.order("shopee", "O2")
    assert view["extra"]["out_of_stock_items"] == [{"item_id": 22, "model_id": 0}]
    assert view["calls"] == {"cancel_order": 1}


def test_out_of_stock_item_not_in_the_order_is_refused(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "O3", items=[{"item_id": 31, "model_id": 0}])
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, oos("O3", {"item_id": 31, "model_id": 9}))
    assert caught.value.code == "error_param" and not caught.value.check_status
    assert shop.order("shopee", "O3")["status"] == "READY_TO_SHIP"


@pytest.mark.parametrize(("request_", "detail", "code"), [
    (oos("X"), {"order_status": "READY_TO_SHIP", "item_list": []}, "missing_items"),
    (oos("X", {"model_id": 1}), {}, "invalid_items"),
    (CancelRequest("X", Reason.CUSTOMER_REQUEST, items=({"item_id": 1, "model_id": 0},)), {}, "items_unsupported"),
    (CancelRequest("X", Reason.PRICING_ERROR), {}, "unmappable_reason"),
    (customer("X"), {"order_status": "SHIPPED"}, "not_cancellable"),
])
def test_refused_before_any_write(shop: SandboxClient, adapter: ShopeeAdapter, request_: CancelRequest,
                                  detail: dict[str, Any], code: str) -> None:
    shop.add_order("shopee", SHOP, "X")
    state = {"detail": detail} if detail else {}
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request_, state)
    assert caught.value.code == code and caught.value.step == "cancel"
    assert shop.order("shopee", "X")["calls"] == {}


def test_already_cancelled_seen_by_the_detail_step(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "K1", state="cancelled")
    result = run_flow(adapter, oos("K1"))
    assert result.outcome is Outcome.ALREADY_CANCELLED
    assert shop.order("shopee", "K1")["calls"] == {"get_order_detail": 1}


def test_already_cancelled_recognised_after_a_rejected_cancel(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "K2", state="cancelled")
    with pytest.raises(AlreadyCancelled) as caught:
        run_flow(adapter, customer("K2"))
    assert caught.value.code == "order.error_limit" and caught.value.request_id
    view = shop.order("shopee", "K2")
    assert view["cancels_applied"] == 0 and view["calls"] == {"cancel_order": 1, "get_order_detail": 1}


def test_second_cancel_changes_nothing(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "K3")
    run_flow(adapter, customer("K3"))
    with pytest.raises(AlreadyCancelled):
        run_flow(adapter, customer("K3"))
    assert shop.order("shopee", "K3")["cancels_applied"] == 1
    assert shop.stats()["cancelled_twice"] == []


def test_buyer_request_accepted_after_the_detail_step(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "B1", state="in_cancel")
    assert adapter.read_status(oos("B1")).state is OrderState.IN_CANCEL
    result = run_flow(adapter, oos("B1"))
    assert result.data == {"operation": "handle_buyer_cancellation", "order_status": "CANCELLED"}
    view = shop.order("shopee", "B1")
    assert view["status"] == "CANCELLED" and view["extra"]["cancel_by"] == "buyer"
    assert "cancel_order" not in view["calls"]


def test_buyer_request_accepted_after_a_rejected_cancel(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "B2", state="in_cancel")
    result = run_flow(adapter, customer("B2"))
    assert result.data["operation"] == "handle_buyer_cancellation"
    view = shop.order("shopee", "B2")
    assert view["status"] == "CANCELLED" and view["cancels_applied"] == 1
    assert view["calls"] == {"cancel_order": 1, "get_order_detail": 1, "handle_buyer_cancellation": 1}



def test_a_refusal_that_cannot_be_checked_is_retried_not_final(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    """The refused cancel's follow-up read fails for a passing reason: the refusal is not final (the order may
    be IN_CANCEL, which the other write takes), so the read's transient error is raised and the job retries."""
    shop.add_order("shopee", SHOP, "B5", state="in_cancel")
    shop.fault("shopee", "error", endpoint="get_order_detail", code="error_server", times=1)
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", customer("B5"), {})
    assert caught.value.code == "error_server"
    result = run_flow(adapter, customer("B5"))
    assert result.data["operation"] == "handle_buyer_cancellation"
    assert shop.order("shopee", "B5")["history"] == ["handle_buyer_cancellation ACCEPT"]

def test_in_cancel_status_error_leads_to_accept(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "B3", state="in_cancel")
    shop.fault("shopee", "error", endpoint="cancel_order", code="order.order_status_invalid",
               message="Invalid order_status. The order status should be IN_CANCEL.")
    run_flow(adapter, customer("B3"))
    assert shop.order("shopee", "B3")["history"] == ["handle_buyer_cancellation ACCEPT"]


def test_buyer_withdrew_so_the_seller_cancels(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "B4")  # stale detail said IN_CANCEL; the buyer withdrew since
    result = adapter.run_step("cancel", customer("B4"), {"detail": {"order_status": "IN_CANCEL"}})
    assert result.data["operation"] == "cancel_order"
    assert shop.order("shopee", "B4")["history"] == ["cancel_order CUSTOMER_REQUEST"]


def test_shipped_order_is_refused_with_check_status(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "S1", state="shipped")
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, customer("S1"))
    assert caught.value.code == "order.error_limit" and caught.value.check_status
    assert adapter.read_status(customer("S1")).state is OrderState.NOT_CANCELLABLE


def test_order_ships_between_read_and_write(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "S2")
    shop.fault("shopee", "ship", endpoint="get_order_detail")
    with pytest.raises(PermanentError) as caught:
        run_flow(adapter, oos("S2"))
    assert caught.value.code == "order.error_limit" and caught.value.check_status
    assert shop.order("shopee", "S2")["status"] == "SHIPPED"


def test_unknown_order_is_permanent(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter.read_status(customer("NOPE"))
    assert type(caught.value) is PermanentError and caught.value.request_id


@pytest.mark.parametrize(("state", "expected", "effects"), [
    ("cancellable", OrderState.CANCELLABLE, 3),
    ("in_cancel", OrderState.IN_CANCEL, 1),
    ("cancelled", OrderState.CANCELLED, 0),
    ("shipped", OrderState.NOT_CANCELLABLE, 0),
])
def test_preview_reads_only(shop: SandboxClient, adapter: ShopeeAdapter, state: str, expected: OrderState,
                            effects: int) -> None:
    shop.add_order("shopee", SHOP, "P1", state=state)
    preview = adapter.preview(oos("P1"))
    assert preview.state is expected and len(preview.side_effects) == effects
    assert shop.order("shopee", "P1")["calls"] == {"get_order_detail": 1}
    assert shop.stats()["cancels_applied"] == 0


def test_throttle_sees_every_api(shop: SandboxClient, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "T1")
    seen: list[str] = []
    run_flow(make_adapter(throttle=seen.append), oos("T1"))
    assert seen == ["get_order_detail", "cancel_order"]


# --- faults and limits through the sandbox --------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "expected"), KIT.error_faults)
def test_kit_faults_on_the_write(shop: SandboxClient, adapter: ShopeeAdapter, fault: dict[str, Any],
                                 expected: type[PlatformError]) -> None:
    shop.add_order("shopee", SHOP, "F1")
    shop.fault("shopee", "error", endpoint=KIT.write_endpoint, **fault)
    with pytest.raises(PlatformError) as caught:
        adapter.run_step("cancel", customer("F1"), {})
    assert type(caught.value) is expected and caught.value.request_id
    assert shop.order("shopee", "F1")["cancels_applied"] == 0


def test_error_server_after_the_write_is_reconciled(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "F2")
    shop.fault("shopee", "error", endpoint="cancel_order", code="error_server", after_write=True)
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", customer("F2"), {})
    assert caught.value.check_status and caught.value.http_status == 500
    assert adapter.read_status(customer("F2")).state is OrderState.CANCELLED


def test_quota_fault_gives_next_midnight_utc8(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "F3")
    shop.fault("shopee", "error", endpoint="get_order_detail", code="error_limit")
    with pytest.raises(QuotaExhausted) as caught:
        adapter.read_status(customer("F3"))
    assert caught.value.retry_at == next_quota_reset()
    assert caught.value.retry_at.astimezone(UTC).hour == 16


@pytest.mark.parametrize(("kind", "code"), [("html", "invalid_body"), ("truncate", "invalid_body")])
def test_unreadable_answers_leave_the_write_unknown(shop: SandboxClient, adapter: ShopeeAdapter, kind: str,
                                                   code: str) -> None:
    shop.add_order("shopee", SHOP, "F4")
    shop.fault("shopee", kind, endpoint="cancel_order", after_write=kind == "truncate")
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", customer("F4"), {})
    assert caught.value.code == code and caught.value.check_status


def test_read_timeout_is_ambiguous(shop: SandboxClient, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "F5")
    shop.fault("shopee", "hang", endpoint="cancel_order", hang_s=0.6)
    with pytest.raises(TransientError) as caught:
        make_adapter(timeouts=Timeouts(connect_s=1, read_s=0.2)).run_step("cancel", customer("F5"), {})
    assert caught.value.code == "timeout" and caught.value.check_status


def test_rate_limit_answer(shop: SandboxClient, adapter: ShopeeAdapter) -> None:
    shop.add_order("shopee", SHOP, "R1")
    shop.limits(True, {f"shopee/{SHOP}": (0.001, 2)})
    adapter.read_status(customer("R1"))
    adapter.read_status(customer("R1"))
    with pytest.raises(RateLimited) as caught:
        adapter.read_status(customer("R1"))
    assert caught.value.code == "error_rate_limit" and caught.value.http_status == 429


# --- secrets --------------------------------------------------------------------------------------------------


def _texts(exc: BaseException) -> str:
    parts = []
    current: BaseException | None = exc
    while current is not None:
        parts += [str(current), repr(current)]
        if isinstance(current, PlatformError):
            parts.append(json.dumps(current.to_dict()))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def test_secrets_never_in_errors(shop: SandboxClient, make_adapter: Any) -> None:
    shop.add_order("shopee", SHOP, "Z1")
    adapter = make_adapter()
    shop.fault("shopee", "error", endpoint="cancel_order", code="error_param",
               message=f"bad token {ACCESS_TOKEN} for key {PARTNER_KEY}")
    shop.fault("shopee", "drop", endpoint="get_order_detail")
    caught: list[BaseException] = []
    for call in (lambda: adapter.run_step("cancel", customer("Z1"), {}),
                 lambda: adapter.read_status(customer("Z1")),
                 lambda: make_adapter(partner_key="x" + PARTNER_KEY).read_status(customer("Z1")),
                 lambda: make_adapter(access_token=ACCESS_TOKEN[::-1]).read_status(customer("Z1"))):
        with pytest.raises(PlatformError) as info:
            call()
        caught.append(info.value)
    text = "\n".join(_texts(e) for e in caught) + repr(adapter) + repr(adapter.credentials)
    assert "***" in text  # the echoed secrets were scrubbed, not dropped silently
    for secret in (*KIT.secrets, ACCESS_TOKEN[::-1], "sign=", "access_token="):
        assert secret not in text


def test_bad_credentials_are_permanent() -> None:
    with pytest.raises(PermanentError) as caught:
        ShopeeAdapter.from_credentials({"partner_id": PARTNER_ID, "shop_id": SHOP_ID, "access_token": ACCESS_TOKEN})
    assert caught.value.code == "invalid_credentials" and "partner_key" in caught.value.message
    with pytest.raises(PermanentError):
        ShopeeAdapter.from_credentials({**CREDENTIALS, "shop_id": "shop-one"})


# --- classification table (platforms.md 1.3-1.5 and the cancel_order doc's error list) ----------------------

SYSTEM = "System error. Please try again later."
TABLE: list[tuple[str, str, int, type[PlatformError], bool]] = [
    # retryable
    ("error_server", SYSTEM, 500, TransientError, True),
    ("error_server", "Something wrong. Please try later.", 200, TransientError, True),
    ("error_network", "Inner http call failed", 500, TransientError, True),
    ("error_rate_limit", "Too many requests. You have reached the rate limit. Please try again later.", 429,
     RateLimited, False),
    ("error_limit", "The total API call number made by your APP has reached the daily API call limit, please try "
                    "again after 00:00 (UTC+08:00)", 429, QuotaExhausted, False),
    ("common.error_auth", "System error, please try again later.", 403, TransientError, False),
    # refresh the token
    ("error_auth", "Invalid access_token.", 403, AuthExpired, False),
    ("common.error_auth", "Invalid access_token.", 403, AuthExpired, False),
    ("error_auth", "access token is expired, please refresh it", 403, AuthExpired, False),
    ("invalid_acceess_token", "Invalid access token", 403, AuthExpired, False),
    ("invalid_access_token", "Invalid access token", 403, AuthExpired, False),
    # re-authorise
    ("refresh_token_expired", "refresh token expired", 403, ReauthRequired, False),
    ("shop_access_expired", "shop access expired", 403, ReauthRequired, False),
    ("error_shop_refresh_token", "invalid refresh token", 403, ReauthRequired, False),
    ("shop_no_linked", "shop not linked", 403, ReauthRequired, False),
    ("partner_shop_no_link", "partner and shop not linked", 403, ReauthRequired, False),
    ("error_auth", "Invalid partner_id or shopid.", 403, ReauthRequired, False),
    # permanent (bugs, config, permissions)
    ("error_param", "There is no access_token in query.", 400, PermanentError, False),
    ("error_param", "There is no shop_id in query.", 400, PermanentError, False),
    ("error_param", "There is no partner_id in query.", 400, PermanentError, False),
    ("error_param", "There is no sign in query.", 400, PermanentError, False),
    ("error_param", "Invalid partner_id.", 400, PermanentError, False),
    ("error_param", "no timestamp", 400, PermanentError, False),
    ("error_param", "Invalid timestamp", 400, ConfigError, False),
    ("error_param", "Timestamp is expired.", 400, ConfigError, False),
    ("error_param", "Wrong parameters, detail: order_sn is a required field.", 400, PermanentError, False),
    ("error_param", "The information you queried is not found.", 400, PermanentError, False),
    ("error_param", "request not from gateway", 400, PermanentError, False),
    ("error_sign", "Wrong sign.", 403, ConfigError, False),
    ("error_not_found", "Wrong parameters, detail: order not found.", 404, PermanentError, False),
    ("error_data", "parse data failed", 400, PermanentError, False),
    ("error_data", "data not exist", 400, PermanentError, False),
    ("error_shop", "shopid is invalid", 400, PermanentError, False),
    ("error_auth", "No permission to current api.", 403, PermanentError, False),
    ("error_auth", "partner_id is invalid", 403, PermanentError, False),
    ("error_auth", "The App is deleted", 403, PermanentError, False),
    ("error_permission", "Sorry you don't have the permission, detail: x.", 403, PermanentError, False),
    ("order. error_permission", "Please link shop and partner on seller center first.", 403, PermanentError, False),
    ("error_api_permission", "no api permission", 403, PermanentError, False),
    ("error_api_call_restricted", "api call restricted", 403, PermanentError, False),
    ("api_suspended", "api suspended", 403, PermanentError, False),
    ("error_partner_key_expired", "partner key expired", 403, ConfigError, False),
    ("shop_banned", "shop banned", 403, ConfigError, False),
    ("error_kyc_auth", "kyc", 403, PermanentError, False),
    ("error_ashop_api_permission", "ashop", 403, PermanentError, False),
    ("source_ip_undeclared", "ip undeclared", 403, ConfigError, False),
    ("invalid_partner_id", "invalid partner", 403, ConfigError, False),
    ("order. error_param", "You can not cancel warehouse order.", 400, PermanentError, False),
    ("logistics.cancel_forder_failed", "cancel logistics order failed", 400, PermanentError, False),
    # state conflicts: read the order before anything else
    ("order.error_limit", "Can not cancel this order.", 400, PermanentError, True),
    ("order.cancel_order_invalid_status", "Invalid order_status. The order status should be IN_CANCEL.", 400,
     PermanentError, True),
    ("order.order_status_invalid", "Invalid order_status. The order status should be IN_CANCEL.", 400,
     PermanentError, True),
    # codes we do not know: the HTTP status decides
    ("some_new_error", "?", 503, TransientError, True),
    ("some_new_error", "?", 400, PermanentError, False),
    ("", "", 502, TransientError, True),
]


@pytest.mark.parametrize(("code", "message", "status", "expected", "check_status"), TABLE,
                         ids=[f"{c or 'empty'}-{m[:30]}" for c, m, *_ in TABLE])
def test_classification_table(code: str, message: str, status: int, expected: type[PlatformError],
                              check_status: bool) -> None:
    error = classify(http_status=status, code=code, message=message, body={"request_id": "rid-1"}, step="cancel")
    assert type(error) is expected
    assert error.check_status is check_status
    assert error.code == ("".join(code.split()) or None)
    assert (error.platform, error.step, error.http_status, error.request_id) == ("shopee", "cancel", status, "rid-1")


@pytest.mark.parametrize(("code", "status"), [("some_new_error", 400), ("order.some_new_error", 403), ("", 404)])
def test_an_unknown_code_is_ambiguous_only_to_a_write(code: str, status: int) -> None:
    write = classify(http_status=status, code=code, message="?", step="cancel", write=True)
    assert type(write) is TransientError and write.check_status
    read = classify(http_status=status, code=code, message="?", step="detail")
    assert type(read) is PermanentError and not read.check_status
    documented = classify(http_status=400, code="error_param", message="Wrong parameters", step="cancel", write=True)
    assert type(documented) is PermanentError, "a documented refusal stays one"


def test_quota_reset_is_next_midnight_utc8() -> None:
    assert next_quota_reset(datetime(2024, 5, 1, 15, 59, 59, tzinfo=UTC)) == datetime(2024, 5, 1, 16, tzinfo=UTC)
    assert next_quota_reset(datetime(2024, 5, 1, 16, 0, 0, tzinfo=UTC)) == datetime(2024, 5, 2, 16, tzinfo=UTC)
    quota = classify(http_status=429, code="error_limit", message="daily",
                     now=datetime(2024, 12, 31, 20, tzinfo=UTC))
    assert isinstance(quota, QuotaExhausted) and quota.retry_at == datetime(2025, 1, 1, 16, tzinfo=UTC)


def test_rate_limit_reads_retry_after_when_given() -> None:
    error = classify(http_status=429, code="error_rate_limit", message="slow down", retry_after_s=3.0)
    assert isinstance(error, RateLimited) and error.retry_after_s == 3.0
