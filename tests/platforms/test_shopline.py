"""SHOPLINE: signing vectors, the status classification table, and the cancel flow against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cancelq.platforms import rest_status, shopline
from cancelq.platforms.base import CancelRequest, OrderState, Outcome
from cancelq.platforms.errors import (
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
)
from cancelq.platforms.http import Reply
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.platforms.shopline import ShoplineAdapter, ShoplineCredentials
from cancelq.sandbox.control import SandboxClient
from tests.kits.shopline import ACCESS_TOKEN, APP_SECRET, HANDLE, KIT

P = "shopline"

# -- signing (platforms.md 3.2) ----------------------------------------------------------------------------

SDK_SECRET = "LDLLJJLflja2039203flaflaLLFLE"
TEST_SECRET = "shopline_test_app_secret"


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "expected"),
    [
        (SDK_SECRET, "", "21c335b3a", "cf5edab6b92d740fe54b3ce9e2723788128384a1eb5c2a5d64c9210a31185b86"),
        (SDK_SECRET, '{"code":"code"}', "21c335b3a",
         "4c4cf0ac52439d1308b58897f857dcba8545efb6c0e8091fba64b148218d2074"),
        (TEST_SECRET, '{"code":"0_100132_abcdef"}', 1700000000000,
         "f90424dea4169febf11089f8246ca060cfb17298bfb6e5163245da83acace5c0"),
        (TEST_SECRET, "", 1700000000000, "fda6761b9458a055d374cf69bed299b4bb7fd4af73a452d820d02931cbf945a7"),
    ],
    ids=["sdk-refresh", "sdk-create", "create", "refresh"],
)
def test_sign_body_reproduces_the_worked_examples(secret: str, body: str, timestamp: Any, expected: str) -> None:
    assert shopline.sign_body(secret, body, timestamp) == expected


GET_PARAMS = {"timestamp": "1700000000000", "lang": "en", "handle": "open001", "appkey": "shopline_test_app_key"}
GET_SIGN = "2ac33231d6e3fd0dcc9229671d778f865fb7a4d69e42fcf7845a4d40cc3fad58"


def test_sign_query_sorts_the_query_and_ignores_sign() -> None:
    assert shopline.sign_query(TEST_SECRET, GET_PARAMS) == GET_SIGN
    assert shopline.sign_query(TEST_SECRET, {**GET_PARAMS, "sign": "anything"}) == GET_SIGN


def test_verify_query_rejects_a_tampered_query() -> None:
    assert shopline.verify_query(TEST_SECRET, {**GET_PARAMS, "sign": GET_SIGN})
    assert not shopline.verify_query(TEST_SECRET, {**GET_PARAMS, "handle": "open002", "sign": GET_SIGN})
    assert not shopline.verify_query(TEST_SECRET, GET_PARAMS)


# -- classification (platforms.md 3.4, plus the status page's 433-436 and 501) ------------------------------

CLASSIFICATION = [
    (400, False, PermanentError, "bad_request", False),
    (401, False, AuthExpired, "unauthorized", False),
    (402, False, ConfigError, "store_frozen", False),
    (403, False, PermanentError, "forbidden", False),
    (404, False, PermanentError, "not_found", False),
    (406, False, PermanentError, "not_acceptable", False),
    (412, False, PermanentError, "high_risk_content", False),
    (422, True, PermanentError, "unprocessable_entity", True),
    (422, False, PermanentError, "unprocessable_entity", True),
    (423, True, TransientError, "store_locked", False),
    (429, True, RateLimited, "rate_limited", False),
    (433, False, TransientError, "request_blocked", False),
    (434, False, RateLimited, "rate_limited", False),
    (435, False, TransientError, "cc_protection", False),
    (436, False, PermanentError, "security_policy", False),
    (418, False, PermanentError, "http_418", False),
    (418, True, TransientError, "http_418", True),
    (409, True, TransientError, "http_409", True),
    (500, True, TransientError, "internal_server_error", True),
    (500, False, TransientError, "internal_server_error", False),
    (501, True, PermanentError, "not_implemented", False),
    (502, True, TransientError, "bad_gateway", True),
    (503, True, TransientError, "service_unavailable", True),
    (503, False, TransientError, "service_unavailable", False),
    (504, True, TransientError, "gateway_timeout", True),
]


@pytest.mark.parametrize(("status", "writes", "cls", "code", "check"), CLASSIFICATION)
def test_classify(status: int, writes: bool, cls: type[PlatformError], code: str, check: bool) -> None:
    verdict = shopline.classify(status, None, "message", {}, writes=writes)
    assert (verdict.error, verdict.code, verdict.check_status) == (cls, code, check)


def test_classify_keeps_the_platform_code_but_not_for_a_locked_store() -> None:
    assert shopline.classify(404, "ORDER_NOT_FOUND", "x").code == "ORDER_NOT_FOUND"
    assert shopline.classify(423, "LOCKED", "x").code == "store_locked"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"errors": "The product does not exist."}, None, "The product does not exist."),
        ({"errors": ["first", "second"]}, None, "first; second"),
        ({"errors": {"restock": ["must be a boolean"], "amount": "too big"}}, None,
         "amount: too big; restock: must be a boolean"),
        ({"code": "INVALID_PARAM", "message": "bad amount", "errors": "amount"}, "INVALID_PARAM", "bad amount; amount"),
        ({"code": 200, "i18nCode": "SUCCESS"}, "200", ""),
        ("not a mapping", None, ""),
    ],
    ids=["string", "list", "map", "code-message-errors", "token-endpoint", "not-json-object"],
)
def test_error_bodies_in_every_shape(body: Any, code: str | None, message: str) -> None:
    assert rest_status.error_detail(body) == (code, message)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0), ("soon", None), ("-3", 0.0), ("nan", None)],
)
def test_retry_after(value: str, expected: float | None) -> None:
    assert rest_status.retry_after_s({"Retry-After": value}, now_s=40.0) == expected


def test_a_429_reply_becomes_rate_limited_with_retry_after() -> None:
    reply = Reply(429, {"Retry-After": "3", "traceId": "t-1"}, {"errors": "Too Many Requests"})
    error = rest_status.reply_error(reply, classify=shopline.classify, platform=P, step="cancel", writes=True,
                                    request_id="t-1", scrub=str)
    assert isinstance(error, RateLimited)
    assert (error.retry_after_s, error.request_id, error.http_status) == (3.0, "t-1", 429)


# -- order status ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("order", "state"),
    [
        ({"status": "canceled"}, OrderState.CANCELLED),
        ({"status": "cancelled"}, OrderState.CANCELLED),
        ({"status": "open", "cancelled_at": "2024-01-01T00:00:00+08:00"}, OrderState.CANCELLED),
        ({"status": "open", "fulfillment_status": "fulfilled"}, OrderState.NOT_CANCELLABLE),
        ({"status": "open", "fulfillment_status": "shipped"}, OrderState.NOT_CANCELLABLE),
        ({"status": "open", "fulfillment_status": "partial"}, OrderState.NOT_CANCELLABLE),
        ({"status": "open", "fulfillment_status": None}, OrderState.CANCELLABLE),
        ({"status": "open", "fulfillment_status": "unshipped"}, OrderState.CANCELLABLE),
    ],
)
def test_order_state(order: dict[str, Any], state: OrderState) -> None:
    assert shopline.order_state(order) is state


# -- the adapter against the sandbox ----------------------------------------------------------------------


class Recorder:
    """Keeps every request the session sent (a requests response hook, not a mock)."""

    def __init__(self, session: requests.Session) -> None:
        self.sent: list[requests.PreparedRequest] = []
        session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.sent.append(response.request)


@pytest.fixture()
def shop(sandbox: SandboxClient) -> SandboxClient:
    sandbox.add_shop(P, **KIT.shop_spec)
    return sandbox


@pytest.fixture()
def recorder(http_session: requests.Session) -> Recorder:
    return Recorder(http_session)


@pytest.fixture()
def adapter(sandbox_url: str, http_session: requests.Session) -> Iterator[ShoplineAdapter]:
    built = build_adapter(P, KIT.credentials, base_url=sandbox_url, session=http_session)
    assert isinstance(built, ShoplineAdapter)
    yield built


def request(order_id: str = "2105034293977845", **options: Any) -> CancelRequest:
    return CancelRequest(order_id, Reason.OUT_OF_STOCK, options=options)


def run_flow(adapter: ShoplineAdapter, req: CancelRequest) -> Outcome:
    state: dict[str, Any] = {}
    for spec in adapter.plan(req):
        result = adapter.run_step(spec.name, req, state)
        state[spec.name] = dict(result.data)
        if result.outcome is not None:
            return result.outcome
    return Outcome.SUCCEEDED


def test_plan_is_one_write(adapter: ShoplineAdapter) -> None:
    assert [(s.name, s.api, s.writes) for s in adapter.plan(request())] == [("cancel", "cancel_order", True)]


def test_full_cancel_flow(shop: SandboxClient, adapter: ShoplineAdapter, recorder: Recorder) -> None:
    shop.add_order(P, HANDLE, "2105034293977845")
    outcome = run_flow(adapter, request(restock=True, email=False))
    assert outcome is Outcome.SUCCEEDED
    view = shop.order(P, "2105034293977845")
    assert KIT.is_cancelled(view)
    assert view["cancels_applied"] == 1
    assert view["extra"]["cancel_reason"] == "Out of stock"
    assert view["extra"]["restocked"] is True
    assert "customer_emailed" not in view["extra"]
    assert adapter.read_status(request()).state is OrderState.CANCELLED


def test_cancel_sends_exact_compact_bytes_with_the_documented_headers(
    shop: SandboxClient, adapter: ShoplineAdapter, recorder: Recorder
) -> None:
    shop.add_order(P, HANDLE, "2105034293977845")
    req = CancelRequest("2105034293977845", Reason.OTHER, note="Käufer storniert", options={
        "restock": True, "email": True, "amount": 12, "currency": "USD", "processed_at": "2023-04-12T22:59:52+08:00",
        "refund_type": "Manual", "campaign": "ignored",
    })
    result = adapter.run_step("cancel", req, {})
    sent = recorder.sent[-1]
    assert sent.method == "POST"
    assert str(sent.url).endswith("/admin/openapi/v20251201/orders/2105034293977845/cancel.json")
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sent.headers["Host"] == f"{HANDLE}.myshopline.com"
    assert sent.body == (
        '{"cancel_reason":"Käufer storniert","restock":true,"email":true,"amount":12,"currency":"USD",'
        '"processed_at":"2023-04-12T22:59:52+08:00","refund_type":"Manual"}'
    ).encode()
    assert result.request_id and len(result.request_id) == 32
    assert result.data["status"] == "canceled"


def test_api_version_is_configurable(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    recorder = Recorder(http_session)
    shop.add_order(P, HANDLE, "1")
    adapter = build_adapter(P, {**KIT.credentials, "api_version": "v20250601"}, base_url=sandbox_url,
                            session=http_session)
    assert adapter.read_status(request("1")).state is OrderState.CANCELLABLE
    assert "/admin/openapi/v20250601/orders/1.json" in str(recorder.sent[-1].url)


def test_unknown_version_is_a_permanent_404(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order(P, HANDLE, "1")
    adapter = build_adapter(P, {**KIT.credentials, "api_version": "latest"}, base_url=sandbox_url)
    with pytest.raises(PermanentError) as caught:
        adapter.read_status(request("1"))
    assert caught.value.http_status == 404


def test_already_cancelled_is_a_422_that_read_status_resolves(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "9", state="cancelled")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("9"), {})
    error = caught.value
    assert (error.http_status, error.check_status, error.step) == (422, True, "cancel")
    assert error.request_id
    assert adapter.read_status(request("9")).state is OrderState.CANCELLED
    assert shop.order(P, "9")["cancels_applied"] == 0


def test_second_cancel_is_refused_and_applies_nothing(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "9")
    adapter.run_step("cancel", request("9"), {})
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("9"), {})
    assert caught.value.check_status
    view = shop.order(P, "9")
    assert view["cancels_applied"] == 1
    assert view["history"][-1].startswith("cancel_order: refused")


def test_native_cancelled_spelling_is_read_as_cancelled(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "10", status="cancelled")
    assert adapter.read_status(request("10")).state is OrderState.CANCELLED


def test_shipped_order_is_not_cancellable(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "11")
    shop.ship(P, "11")
    status = adapter.read_status(request("11"))
    assert (status.state, status.raw_status) == (OrderState.NOT_CANCELLABLE, "open/fulfilled")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("11"), {})
    assert caught.value.http_status == 422
    assert adapter.preview(request("11", restock=True)).side_effects == ()


def test_unknown_order_is_permanent(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter.read_status(request("404404"))
    assert (caught.value.http_status, caught.value.code) == (404, "not_found")
    assert "does not exist" in caught.value.message


def test_orders_of_another_store_are_invisible(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_shop(P, handle="other", access_token="other-token")
    shop.add_order(P, "other", "12")
    with pytest.raises(PermanentError):
        adapter.run_step("cancel", request("12"), {})
    assert shop.order(P, "12")["cancels_applied"] == 0


def test_preview_reads_only_and_reports_side_effects(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "13")
    preview = adapter.preview(request("13", restock=True, email=True))
    assert (preview.state, preview.raw_status) == (OrderState.CANCELLABLE, "open")
    assert preview.side_effects == ("restock", "customer emailed")
    assert adapter.preview(request("13")).side_effects == ()
    assert shop.order(P, "13")["calls"] == {"get_order": 2}


@pytest.mark.parametrize(
    "options",
    [{"restock": "yes"}, {"email": 1}, {"amount": "lots"}, {"amount": -1}, {"amount": float("inf")}, {"processed_at": "yesterday"},
     {"refund_type": "Cash"}, {"currency": ""}],
)
def test_bad_options_fail_before_any_write(shop: SandboxClient, adapter: ShoplineAdapter, options: Any) -> None:
    shop.add_order(P, HANDLE, "14")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("14", **options), {})
    assert caught.value.code == "invalid_option"
    with pytest.raises(PermanentError):
        adapter.preview(request("14", **options))
    assert shop.order(P, "14")["calls"] == {}


def test_cancel_body_reads_a_numeric_string_amount() -> None:
    body = shopline.cancel_body(request(amount="12.50", restock=False), step="cancel")
    assert body == {"cancel_reason": "Out of stock", "restock": False, "amount": 12.5}


def test_partial_cancel_is_refused_before_any_write(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "15")
    partial = CancelRequest("15", Reason.OUT_OF_STOCK, items=({"id": "151", "quantity": 1},))
    for call in (lambda: adapter.run_step("cancel", partial, {}), lambda: adapter.preview(partial)):
        with pytest.raises(PermanentError) as caught:
            call()
        assert caught.value.code == "partial_cancel_unsupported"
    assert shop.order(P, "15")["calls"] == {}


def test_unknown_step_is_permanent(adapter: ShoplineAdapter) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("validate", request(), {})
    assert caught.value.code == "unknown_step"


# -- authentication -------------------------------------------------------------------------------------------

def _assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "to_dict", dict)())):
        for secret in KIT.secrets:
            assert secret not in text


def test_wrong_token_is_auth_expired(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order(P, HANDLE, "15")
    adapter = build_adapter(P, {**KIT.credentials, "access_token": "wrong-token"}, base_url=sandbox_url)
    with pytest.raises(AuthExpired) as caught:
        adapter.run_step("cancel", request("15"), {})
    assert (caught.value.http_status, caught.value.request_id is not None) == (401, True)
    assert shop.order(P, "15")["cancels_applied"] == 0


def test_token_of_another_store_is_refused(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_shop(P, handle="other", access_token="other-token")
    shop.add_order(P, HANDLE, "16")
    adapter = build_adapter(P, {**KIT.credentials, "access_token": "other-token"}, base_url=sandbox_url)
    with pytest.raises(AuthExpired):
        adapter.read_status(request("16"))


def test_expired_token_is_auth_expired(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "17")
    shop.expire_token(P, HANDLE, at=1.0)
    with pytest.raises(AuthExpired) as caught:
        adapter.read_status(request("17"))
    _assert_no_secret(caught.value)


def test_sandbox_requires_json_content_type_and_typed_fields(
    shop: SandboxClient, sandbox_url: str, http_session: requests.Session
) -> None:
    shop.add_order(P, HANDLE, "18")
    url = f"{sandbox_url}/admin/openapi/v20251201/orders/18/cancel.json"
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}", "Host": f"{HANDLE}.myshopline.com"}
    plain = http_session.post(url, data=b'{"restock":true}', headers={**headers, "Content-Type": "text/plain"})
    typed = http_session.post(url, data=b'{"restock":"yes"}',
                              headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    for response in (plain, typed):
        assert response.status_code == 400
        assert response.headers["traceId"]
        reply = Reply(response.status_code, response.headers, response.json())
        error = rest_status.reply_error(reply, classify=shopline.classify, platform=P, step="cancel", writes=True,
                                        request_id=response.headers["traceId"], scrub=str)
        assert isinstance(error, PermanentError) and not error.check_status
    assert "Content-Type" in plain.json()["errors"]
    assert typed.json() == {"errors": {"restock": ["incorrect parameter type"]}}
    assert shop.order(P, "18")["cancels_applied"] == 0


def test_missing_host_is_refused_by_the_sandbox(shop: SandboxClient, sandbox_url: str) -> None:
    response = requests.get(f"{sandbox_url}/admin/openapi/v20251201/orders/1.json",
                            headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5)
    assert response.status_code == 404


# -- faults through the sandbox -----------------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "cls"), KIT.error_faults)
def test_kit_faults_classify(shop: SandboxClient, adapter: ShoplineAdapter, fault: Any,
                             cls: type[PlatformError]) -> None:
    shop.add_order(P, HANDLE, "20")
    shop.fault(P, "error", endpoint=KIT.write_endpoint, **fault)
    with pytest.raises(cls) as caught:
        adapter.run_step("cancel", request("20"), {})
    assert caught.value.request_id
    assert shop.order(P, "20")["cancels_applied"] == 0


def test_fault_429_carries_retry_after(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "21")
    shop.fault(P, "error", endpoint="cancel_order", http_status=429, retry_after_s=7)
    with pytest.raises(RateLimited) as caught:
        adapter.run_step("cancel", request("21"), {})
    assert caught.value.retry_after_s == 7.0


def test_fault_423_is_a_locked_store(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "22")
    shop.fault(P, "error", endpoint="cancel_order", http_status=423, message="store is locked")
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", request("22"), {})
    assert not isinstance(caught.value, RateLimited)
    assert (caught.value.code, caught.value.check_status) == ("store_locked", False)


def test_500_after_the_write_is_ambiguous_and_reconciled(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "23")
    shop.fault(P, "error", endpoint="cancel_order", http_status=500, after_write=True)
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", request("23"), {})
    assert caught.value.check_status
    assert adapter.read_status(request("23")).state is OrderState.CANCELLED
    assert shop.order(P, "23")["cancels_applied"] == 1


def test_5xx_on_a_read_needs_no_reconciliation(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "24")
    shop.fault(P, "error", endpoint="get_order", http_status=503)
    with pytest.raises(TransientError) as caught:
        adapter.read_status(request("24"))
    assert not caught.value.check_status


@pytest.mark.parametrize("kind", ["html", "truncate"])
def test_unreadable_write_answers_are_ambiguous(shop: SandboxClient, adapter: ShoplineAdapter, kind: str) -> None:
    shop.add_order(P, HANDLE, "25")
    shop.fault(P, kind, endpoint="cancel_order", after_write=kind == "truncate")
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", request("25"), {})
    assert caught.value.check_status


def test_rate_limit_of_the_sandbox(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "26")
    shop.limits(enabled=True, shops={f"{P}/{HANDLE}": (0.5, 3)})
    for _ in range(3):
        adapter.read_status(request("26"))
    with pytest.raises(RateLimited) as caught:
        adapter.read_status(request("26"))
    assert (caught.value.http_status, caught.value.retry_after_s) == (429, 1.0)


def test_secrets_never_reach_errors_or_reprs(shop: SandboxClient, adapter: ShoplineAdapter) -> None:
    shop.add_order(P, HANDLE, "27")
    shop.fault(P, "error", endpoint="cancel_order", http_status=400,
               message=f"bad token {ACCESS_TOKEN} for app {APP_SECRET}")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("27"), {})
    _assert_no_secret(caught.value)
    assert "***" in caught.value.message
    for text in (repr(adapter), repr(adapter.credentials)):
        assert ACCESS_TOKEN not in text and APP_SECRET not in text


def test_throttle_is_called_with_the_api_name(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order(P, HANDLE, "28")
    seen: list[str] = []
    adapter = build_adapter(P, KIT.credentials, base_url=sandbox_url, throttle=seen.append)
    adapter.preview(request("28"))
    adapter.run_step("cancel", request("28"), {})
    assert seen == ["get_order", "cancel_order"]


def test_real_host_is_used_without_a_base_url() -> None:
    adapter = ShoplineAdapter.from_credentials({"handle": "open001", "access_token": "t"})
    assert adapter._api_root == "https://open001.myshopline.com/admin/openapi/v20251201"
    assert adapter._host_header == {}


@pytest.mark.parametrize(
    "creds",
    [{"access_token": "t"}, {"handle": "open001"}, {"handle": "evil.com/x", "access_token": "t"},
     {"handle": "open001", "access_token": "t", "api_version": "../v1"}],
)
def test_bad_credentials_are_refused(creds: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ShoplineCredentials.from_mapping(creds)
