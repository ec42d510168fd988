"""Shoplazza: the OAuth hmac vector, the status classification table, both body generations against the sandbox."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
import requests

from cancelq.platforms import rest_status, shoplazza
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
from cancelq.platforms.shoplazza import ShoplazzaAdapter, ShoplazzaCredentials
from cancelq.sandbox.control import SandboxClient
from tests.kits.shoplazza import ACCESS_TOKEN, CLIENT_SECRET, KIT, SHOP

P = "shoplazza"
VERSIONS = ("2022-01", "2025-06")

# -- OAuth callback hmac (platforms.md 4.2) -----------------------------------------------------------------

VECTOR = {"code": "auth_code_123", "shop": "demo.myshoplaza.com", "state": "xyz"}
VECTOR_HMAC = "468a41d1cc73af7f037d1ac8246330d9896a02e17be98aea3d7e9161294faa6a"


def test_oauth_hmac_reproduces_the_vector() -> None:
    assert shoplazza.oauth_hmac("shoplazza_test_client_secret", VECTOR) == VECTOR_HMAC
    assert shoplazza.oauth_hmac("shoplazza_test_client_secret", {**VECTOR, "hmac": "x"}) == VECTOR_HMAC


def test_oauth_hmac_verification_rejects_tampering() -> None:
    secret = "shoplazza_test_client_secret"
    assert shoplazza.verify_oauth_hmac(secret, {**VECTOR, "hmac": VECTOR_HMAC})
    assert not shoplazza.verify_oauth_hmac(secret, {**VECTOR, "shop": "evil.myshoplaza.com", "hmac": VECTOR_HMAC})
    assert not shoplazza.verify_oauth_hmac("another_secret", {**VECTOR, "hmac": VECTOR_HMAC})


def test_oauth_hmac_url_encodes_like_go() -> None:
    # Go's url.Values.Encode: QueryEscape, so a space is "+" and "/" is "%2F".
    a = shoplazza.oauth_hmac("s", {"redirect": "https://a.b/c d"})
    b = shoplazza.oauth_hmac("s", {"redirect": "https://a.b/c+d"})
    assert a != b
    expected = hmac.new(b"s", b"redirect=https%3A%2F%2Fa.b%2Fc+d", hashlib.sha256).hexdigest()
    assert a == expected


# -- classification (platforms.md 4.4) ---------------------------------------------------------------------

CLASSIFICATION = [
    (400, False, PermanentError, "bad_request", False),
    (401, False, AuthExpired, "unauthorized", False),
    (403, False, PermanentError, "forbidden", False),
    (404, False, PermanentError, "not_found", False),
    (405, False, PermanentError, "method_not_allowed", False),
    (406, True, PermanentError, "not_acceptable", True),
    (406, False, PermanentError, "not_acceptable", True),
    (422, True, PermanentError, "unprocessable_entity", False),
    (429, True, RateLimited, "rate_limited", False),
    (409, False, PermanentError, "http_409", False),
    (409, True, TransientError, "http_409", True),
    (418, True, TransientError, "http_418", True),
    (500, True, TransientError, "internal_server_error", True),
    (500, False, TransientError, "internal_server_error", False),
    (502, True, TransientError, "bad_gateway", True),
    (503, True, TransientError, "service_unavailable", True),
    (200, True, PermanentError, "unsuccessful", True),
]


@pytest.mark.parametrize(("status", "writes", "cls", "code", "check"), CLASSIFICATION)
def test_classify(status: int, writes: bool, cls: type[PlatformError], code: str, check: bool) -> None:
    verdict = shoplazza.classify(status, None, "message", {}, writes=writes)
    assert (verdict.error, verdict.code, verdict.check_status) == (cls, code, check)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 500])
def test_store_not_active_parks_the_shop_whatever_the_status(status: int) -> None:
    verdict = shoplazza.classify(status, None, "store is not active", {"error": "store is not active"}, writes=True)
    assert (verdict.error, verdict.code, verdict.check_status, verdict.scope) == (
        ConfigError, "store_not_active", False, "shop")


def test_classify_keeps_the_envelope_code() -> None:
    assert shoplazza.classify(400, "InvalidParameter", "reason must be a string").code == "InvalidParameter"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"errors": ["file number error"]}, None, "file number error"),
        ({"error": "Unable to find resource"}, None, "Unable to find resource"),
        ({"code": "InvalidParameter", "message": "order id is empty"}, "InvalidParameter", "order id is empty"),
    ],
)
def test_error_bodies_of_both_generations(body: Any, code: str | None, message: str) -> None:
    assert rest_status.error_detail(body) == (code, message)


@pytest.mark.parametrize(
    ("body", "order"),
    [
        ({"order": {"id": "1", "status": "placed"}}, {"id": "1", "status": "placed"}),
        ({"code": "success", "message": "ok", "data": {"id": "1", "status": "placed"}}, {"id": "1", "status": "placed"}),
        ({"code": "success", "message": "ok", "data": {"order": {"id": "1"}}}, {"id": "1"}),
        ({"code": "InvalidParameter", "message": "bad"}, None),
        ({"orders": []}, None),
        (None, None),
    ],
)
def test_unwrap_order(body: Any, order: Any) -> None:
    assert shoplazza.unwrap_order(body) == order


# -- order status ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("order", "state"),
    [
        ({"status": "cancelled", "fulfillment_status": "partially_shipped"}, OrderState.CANCELLED),
        ({"status": "opened", "fulfillment_status": "initialled"}, OrderState.CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "waiting"}, OrderState.CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "partially_shipped"}, OrderState.CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "partially_finished"}, OrderState.CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "shipped"}, OrderState.NOT_CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "finished"}, OrderState.NOT_CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "returning"}, OrderState.NOT_CANCELLABLE),
        ({"status": "placed", "fulfillment_status": "returned"}, OrderState.NOT_CANCELLABLE),
        ({"status": "finished", "fulfillment_status": "waiting"}, OrderState.NOT_CANCELLABLE),
    ],
)
def test_order_state(order: dict[str, Any], state: OrderState) -> None:
    assert shoplazza.order_state(order) is state


# -- the adapter against the sandbox, in both versions ------------------------------------------------------


@pytest.fixture()
def shop(sandbox: SandboxClient) -> SandboxClient:
    sandbox.add_shop(P, **KIT.shop_spec)
    return sandbox


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def adapter(sandbox_url: str, http_session: requests.Session, version: str) -> ShoplazzaAdapter:
    built = build_adapter(P, {**KIT.credentials, "api_version": version}, base_url=sandbox_url, session=http_session)
    assert isinstance(built, ShoplazzaAdapter)
    return built


def request(order_id: str = "633130-00000004", note: str = "") -> CancelRequest:
    return CancelRequest(order_id, Reason.CUSTOMER_REQUEST, note=note)


def run_flow(adapter: ShoplazzaAdapter, req: CancelRequest) -> Outcome:
    state: dict[str, Any] = {}
    for spec in adapter.plan(req):
        result = adapter.run_step(spec.name, req, state)
        state[spec.name] = dict(result.data)
        if result.outcome is not None:
            return result.outcome
    return Outcome.SUCCEEDED


def test_plan_is_one_write(adapter: ShoplazzaAdapter) -> None:
    assert [(s.name, s.api, s.writes) for s in adapter.plan(request())] == [("cancel", "cancel_order", True)]


def test_full_cancel_flow(shop: SandboxClient, adapter: ShoplazzaAdapter, http_session: requests.Session,
                          version: str) -> None:
    sent: list[requests.PreparedRequest] = []
    http_session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    shop.add_order(P, SHOP, "633130-00000004")
    assert run_flow(adapter, request(note="changed their mind")) is Outcome.SUCCEEDED
    view = shop.order(P, "633130-00000004")
    assert KIT.is_cancelled(view)
    assert view["cancels_applied"] == 1
    assert view["extra"]["cancel_reason"] == "Customer request: changed their mind"
    post = sent[-1]
    assert str(post.url).endswith(f"/openapi/{version}/orders/633130-00000004/cancel")
    assert post.headers["Access-Token"] == ACCESS_TOKEN
    assert post.headers["Host"] == f"{SHOP}.myshoplaza.com"
    assert post.body == b'{"reason":"Customer request: changed their mind"}'
    status = adapter.read_status(request())
    assert (status.state, status.request_id is not None) == (OrderState.CANCELLED, True)


def test_sandbox_answers_each_version_in_its_shape(shop: SandboxClient, sandbox_url: str, version: str) -> None:
    shop.add_order(P, SHOP, "1")
    headers = {"Access-Token": ACCESS_TOKEN, "Host": f"{SHOP}.myshoplaza.com"}
    ok = requests.get(f"{sandbox_url}/openapi/{version}/orders/1", headers=headers, timeout=5)
    missing = requests.get(f"{sandbox_url}/openapi/{version}/orders/2", headers=headers, timeout=5)
    assert ok.headers["X-Request-Id"]
    if version == "2025-06":
        assert ok.json()["code"] == "success" and ok.json()["data"]["id"] == "1"
        assert missing.json() == {"code": "NotFound", "message": "Unable to find resource"}
    else:
        assert ok.json()["order"]["id"] == "1"
        assert missing.json() == {"error": "Unable to find resource"}


def test_already_cancelled_is_a_406_that_read_status_resolves(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "9", state="cancelled")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("9"), {})
    assert (caught.value.http_status, caught.value.check_status) == (406, True)
    assert caught.value.request_id
    assert adapter.read_status(request("9")).state is OrderState.CANCELLED
    assert shop.order(P, "9")["cancels_applied"] == 0


def test_second_cancel_is_refused_and_applies_nothing(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "9")
    adapter.run_step("cancel", request("9"), {})
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("9"), {})
    assert caught.value.check_status
    assert shop.order(P, "9")["cancels_applied"] == 1


def test_shipped_order_is_not_cancellable(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "11")
    shop.ship(P, "11")
    assert adapter.read_status(request("11")).state is OrderState.NOT_CANCELLABLE
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("11"), {})
    assert caught.value.http_status == 406
    assert adapter.preview(request("11")).state is OrderState.NOT_CANCELLABLE


def test_partially_shipped_order_can_be_cancelled(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "12", fulfillment_status="partially_shipped")
    assert adapter.read_status(request("12")).state is OrderState.CANCELLABLE
    adapter.run_step("cancel", request("12"), {})
    view = shop.order(P, "12")
    assert (view["status"], view["extra"]["fulfillment_status"]) == ("cancelled", "partially_shipped")


def test_preview_reads_only(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "13")
    preview = adapter.preview(request("13"))
    assert (preview.state, preview.raw_status, preview.side_effects) == (OrderState.CANCELLABLE, "placed/waiting", ())
    assert shop.order(P, "13")["calls"] == {"get_order": 1}


def test_unknown_order_is_permanent(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("nope"), {})
    assert (caught.value.http_status, caught.value.check_status) == (404, False)
    assert "Unable to find resource" in caught.value.message


def test_partial_cancel_is_refused_before_any_write(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "15")
    partial = CancelRequest("15", Reason.OUT_OF_STOCK, items=({"id": "15-1"},))
    for call in (lambda: adapter.run_step("cancel", partial, {}), lambda: adapter.preview(partial)):
        with pytest.raises(PermanentError) as caught:
            call()
        assert caught.value.code == "partial_cancel_unsupported"
    assert shop.order(P, "15")["calls"] == {}


def test_unknown_step_is_permanent(adapter: ShoplazzaAdapter) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("validate", request(), {})
    assert caught.value.code == "unknown_step"


def test_store_not_active(sandbox: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    sandbox.add_shop(P, **KIT.shop_spec, active=False)
    sandbox.add_order(P, SHOP, "14")
    with pytest.raises(ConfigError) as caught:
        adapter.run_step("cancel", request("14"), {})
    assert caught.value.code == "store_not_active"
    assert sandbox.order(P, "14")["cancels_applied"] == 0


# -- authentication -------------------------------------------------------------------------------------------

def _assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "to_dict", dict)())):
        for secret in KIT.secrets:
            assert secret not in text


def test_wrong_token_is_auth_expired(shop: SandboxClient, sandbox_url: str, version: str) -> None:
    shop.add_order(P, SHOP, "15")
    adapter = build_adapter(P, {**KIT.credentials, "access_token": "wrong", "api_version": version},
                            base_url=sandbox_url)
    with pytest.raises(AuthExpired) as caught:
        adapter.run_step("cancel", request("15"), {})
    assert caught.value.http_status == 401
    assert "Invalid API key or access token" in caught.value.message
    assert shop.order(P, "15")["cancels_applied"] == 0


def test_sandbox_401_body_is_the_platform_shape(shop: SandboxClient, sandbox_url: str) -> None:
    response = requests.get(f"{sandbox_url}/openapi/2022-01/orders/1", timeout=5,
                            headers={"Access-Token": "wrong", "Host": f"{SHOP}.myshoplaza.com"})
    assert response.status_code == 401
    assert response.json() == {
        "errors": ["[API] Invalid API key or access token (unrecognized login or wrong password)"]
    }


def test_token_of_another_store_is_refused(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_shop(P, shop="other", access_token="other-token")
    shop.add_order(P, SHOP, "16")
    adapter = build_adapter(P, {**KIT.credentials, "access_token": "other-token"}, base_url=sandbox_url)
    with pytest.raises(AuthExpired):
        adapter.read_status(request("16"))


def test_expired_token_is_auth_expired(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "17")
    shop.expire_token(P, SHOP, at=1.0)
    with pytest.raises(AuthExpired) as caught:
        adapter.read_status(request("17"))
    _assert_no_secret(caught.value)


def test_sandbox_rejects_a_bad_cancel_body(shop: SandboxClient, sandbox_url: str, version: str) -> None:
    shop.add_order(P, SHOP, "18")
    url = f"{sandbox_url}/openapi/{version}/orders/18/cancel"
    headers = {"Access-Token": ACCESS_TOKEN, "Host": f"{SHOP}.myshoplaza.com"}
    wrong_type = requests.post(url, data=b'{"reason":"x"}', headers={**headers, "Content-Type": "text/plain"}, timeout=5)
    not_string = requests.post(url, json={"reason": 5}, headers=headers, timeout=5)
    for response in (wrong_type, not_string):
        assert response.status_code == 400
        if version == "2025-06":
            assert response.json()["code"] == "InvalidParameter"
        reply = Reply(400, response.headers, response.json())
        error = rest_status.reply_error(reply, classify=shoplazza.classify, platform=P, step="cancel", writes=True,
                                        request_id=None, scrub=str)
        assert isinstance(error, PermanentError)
    assert shop.order(P, "18")["cancels_applied"] == 0


def test_cancel_without_a_body_is_accepted(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order(P, SHOP, "19")
    response = requests.post(f"{sandbox_url}/openapi/2022-01/orders/19/cancel", timeout=5,
                             headers={"Access-Token": ACCESS_TOKEN, "Host": f"{SHOP}.myshoplaza.com"})
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "cancelled"


# -- faults through the sandbox -----------------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "cls"), KIT.error_faults)
def test_kit_faults_classify(shop: SandboxClient, adapter: ShoplazzaAdapter, fault: Any,
                             cls: type[PlatformError]) -> None:
    shop.add_order(P, SHOP, "20")
    shop.fault(P, "error", endpoint=KIT.write_endpoint, **fault)
    with pytest.raises(cls):
        adapter.run_step("cancel", request("20"), {})
    assert shop.order(P, "20")["cancels_applied"] == 0


def test_fault_store_not_active_in_the_single_error_shape(shop: SandboxClient, adapter: ShoplazzaAdapter,
                                                          version: str) -> None:
    shop.add_order(P, SHOP, "21")
    shop.fault(P, "error", endpoint="get_order", http_status=403, code="error", message="store is not active")
    with pytest.raises(ConfigError) as caught:
        adapter.read_status(request("21"))
    assert caught.value.code == "store_not_active"


def test_fault_429_carries_retry_after(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "22")
    shop.fault(P, "error", endpoint="cancel_order", http_status=429, retry_after_s=4)
    with pytest.raises(RateLimited) as caught:
        adapter.run_step("cancel", request("22"), {})
    assert caught.value.retry_after_s == 4.0


def test_500_after_the_write_is_ambiguous_and_reconciled(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "23")
    shop.fault(P, "error", endpoint="cancel_order", http_status=500, after_write=True)
    with pytest.raises(TransientError) as caught:
        adapter.run_step("cancel", request("23"), {})
    assert caught.value.check_status
    assert adapter.read_status(request("23")).state is OrderState.CANCELLED
    assert shop.order(P, "23")["cancels_applied"] == 1


def test_envelope_failure_with_200_is_refused(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order(P, SHOP, "24")
    shop.fault(P, "error", endpoint="cancel_order", http_status=200, code="OrderStatusError", message="cannot cancel")
    adapter = build_adapter(P, {**KIT.credentials, "api_version": "2025-06"}, base_url=sandbox_url)
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("24"), {})
    assert (caught.value.code, caught.value.check_status) == ("OrderStatusError", True)


def test_rate_limit_of_the_sandbox(shop: SandboxClient, adapter: ShoplazzaAdapter, version: str) -> None:
    shop.add_order(P, SHOP, "25")
    shop.limits(enabled=True, shops={f"{P}/{SHOP}": (0.5, 2)})
    for _ in range(2):
        adapter.read_status(request("25"))
    with pytest.raises(RateLimited) as caught:
        adapter.read_status(request("25"))
    assert (caught.value.http_status, caught.value.retry_after_s) == (429, 1.0)


def test_default_rate_limit_is_the_documented_one(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "26")
    shop.limits(enabled=True)
    passed = 0
    with pytest.raises(RateLimited):
        while passed < 60:
            adapter.read_status(request("26"))
            passed += 1
    assert 40 <= passed <= 45  # a bucket of 40 leaking 2/s


def test_secrets_never_reach_errors_or_reprs(shop: SandboxClient, adapter: ShoplazzaAdapter) -> None:
    shop.add_order(P, SHOP, "27")
    shop.fault(P, "error", endpoint="cancel_order", http_status=422,
               message=f"token {ACCESS_TOKEN} secret {CLIENT_SECRET}")
    with pytest.raises(PermanentError) as caught:
        adapter.run_step("cancel", request("27"), {})
    _assert_no_secret(caught.value)
    for text in (repr(adapter), repr(adapter.credentials)):
        assert ACCESS_TOKEN not in text and CLIENT_SECRET not in text


def test_real_host_is_used_without_a_base_url() -> None:
    adapter = ShoplazzaAdapter.from_credentials({"shop": "demo.myshoplaza.com", "access_token": "t"})
    assert adapter._api_root == "https://demo.myshoplaza.com/openapi/2022-01"
    assert adapter._host_header == {}


@pytest.mark.parametrize(
    "creds",
    [{"access_token": "t"}, {"shop": "demo"}, {"shop": "a/b", "access_token": "t"},
     {"shop": "demo", "access_token": "t", "api_version": "v1"}],
)
def test_bad_credentials_are_refused(creds: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ShoplazzaCredentials.from_mapping(creds)
