"""Lazada: signing, the gateway's checks, the item-level cancel flow and its quirks, error classification."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from lazop_sdk import LazopClient, LazopRequest
from lazop_sdk.base import P_SDK_VERSION
from lazop_sdk.base import sign as sdk_sign

from cancelq.platforms.base import CancelRequest, OrderState, Outcome, StepResult
from cancelq.platforms.errors import (
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from cancelq.platforms.http import HttpClient
from cancelq.platforms.lazada import (
    GATEWAY_HOSTS,
    LazadaAdapter,
    LazadaCredentials,
    classify,
    item_id_list,
    sign,
    signed_params,
)
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.sandbox.control import SandboxClient
from tests.kits.lazada import ACCESS_TOKEN, APP_KEY, APP_SECRET, KIT, SELLER_ID

ORDER = "31202"

# --- helpers -----------------------------------------------------------------------------------------------------


@pytest.fixture()
def shop(sandbox: SandboxClient) -> SandboxClient:
    sandbox.add_shop("lazada", **KIT.shop_spec)
    return sandbox


@pytest.fixture()
def adapter(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> LazadaAdapter:
    built = build_adapter("lazada", KIT.credentials, base_url=sandbox_url, session=http_session)
    assert isinstance(built, LazadaAdapter)
    return built


def make_adapter(sandbox_url: str, session: requests.Session, **overrides: Any) -> LazadaAdapter:
    clock: Callable[[], float] = overrides.pop("clock", time.time)
    creds = LazadaCredentials.from_mapping({**KIT.credentials, **overrides})
    http = HttpClient(platform="lazada", session=session, secrets=(creds.app_secret, creds.access_token))
    return LazadaAdapter(credentials=creds, http=http, base_url=sandbox_url, clock=clock)


def cancel(
    adapter: LazadaAdapter, reason: Reason = Reason.OUT_OF_STOCK, *, order_id: str = ORDER,
    items: tuple[dict[str, Any], ...] = (),
) -> tuple[dict[str, dict[str, Any]], StepResult]:
    """Run the plan in order, as the orchestrator does, until a step finishes the job."""
    request = CancelRequest(order_id=order_id, reason=reason, items=items)
    state: dict[str, dict[str, Any]] = {}
    result = StepResult()
    for spec in adapter.plan(request):
        result = adapter.run_step(spec.name, request, state)
        state[spec.name] = dict(result.data)
        if result.outcome is not None:
            break
    return state, result


def raw(
    session: requests.Session, sandbox_url: str, api_path: str, params: dict[str, str], *,
    method: str = "GET", secret: str = APP_SECRET, timestamp: str | None = None, token: str | None = ACCESS_TOKEN,
    mutate: Callable[[dict[str, str]], None] | None = None,
) -> dict[str, Any]:
    """A request signed by the official SDK's own ``sign`` (not ours), optionally altered after signing."""
    sent = {"app_key": APP_KEY, "sign_method": "sha256", "timestamp": timestamp or str(int(time.time() * 1000)),
            **params}
    if token:
        sent["access_token"] = token
    sent["sign"] = sdk_sign(secret, api_path, sent)
    if mutate:
        mutate(sent)
    url = f"{sandbox_url}/rest{api_path}"
    get = method == "GET"
    response = session.request(method, url, params=sent if get else None, data=None if get else sent, timeout=5)
    assert response.status_code == 200, "Lazada answers errors with HTTP 200"
    body: dict[str, Any] = response.json()
    assert body.get("request_id"), "every answer carries a request_id"
    return body


def calls(sandbox: SandboxClient, api: str, order_id: str = ORDER) -> int:
    return int(sandbox.order("lazada", order_id)["calls"].get(api, 0))


def statuses(sandbox: SandboxClient, order_id: str = ORDER) -> list[str]:
    return [item["status"] for item in sandbox.order("lazada", order_id)["items"]]


# --- signing -----------------------------------------------------------------------------------------------------


def test_doc_signing_example_is_reproduced() -> None:
    params = {"app_key": "123456", "access_token": "test", "timestamp": "1517820392000",
              "sign_method": "sha256", "order_id": "1234"}
    assert sign("helloworld", "/order/get", params) == (
        "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A"
    )


CREATE_PARAMS = {"app_key": "100132", "timestamp": "1700000000000", "sign_method": "sha256",
                 "partner_id": P_SDK_VERSION, "order_id": "31202", "order_item_id_list": "[98108,98109]",
                 "reason_id": "10000021"}
VALIDATE_PARAMS = {"app_key": "100132", "timestamp": "1700000000000", "sign_method": "sha256",
                   "partner_id": P_SDK_VERSION, "order_id": "31202", "order_item_id_list": "[98108]"}


@pytest.mark.parametrize(("path", "params"), [
    ("/order/reverse/cancel/create", CREATE_PARAMS),
    ("/order/reverse/cancel/validate", VALIDATE_PARAMS),
    ("/order/reverse/cancel/create", {**CREATE_PARAMS, "access_token": "50000600c1"}),
])
def test_sign_equals_the_official_sdk(path: str, params: dict[str, str]) -> None:
    assert sign("lazada_test_app_secret_XYZ", path, params) == sdk_sign("lazada_test_app_secret_XYZ", path, params)


def test_signed_params_shape() -> None:
    sent = signed_params(
        app_key="100132", app_secret="s3cr3t", access_token="tok", api_path="/order/reverse/cancel/create",
        params={"order_id": "31202", "order_item_id_list": item_id_list([98108, 98109]), "reason_id": "",
                "note": None},  # type: ignore[dict-item]
        timestamp_ms=1700000000000,
    )
    assert sent["order_item_id_list"] == "[98108,98109]"
    assert "reason_id" not in sent and "note" not in sent, "empty parameters are never sent"
    assert sent["timestamp"] == "1700000000000" and sent["sign_method"] == "sha256"
    unsigned = {k: v for k, v in sent.items() if k != "sign"}
    assert sent["sign"] == sdk_sign("s3cr3t", "/order/reverse/cancel/create", unsigned)
    assert sent["sign"] == sent["sign"].upper()


def test_gateways_and_credentials() -> None:
    real = LazadaAdapter.from_credentials({**KIT.credentials, "country": "VN"})
    assert real.gateway == "https://api.lazada.vn/rest"
    assert set(GATEWAY_HOSTS) == {"sg", "my", "vn", "th", "ph", "id"}
    local = LazadaAdapter.from_credentials(KIT.credentials, base_url="http://127.0.0.1:9/")
    assert local.gateway == "http://127.0.0.1:9/rest"
    with pytest.raises(ValueError, match="country"):
        LazadaAdapter.from_credentials({**KIT.credentials, "country": "uk"})
    with pytest.raises(ValueError, match="access_token") as info:
        LazadaAdapter.from_credentials({"app_key": APP_KEY, "app_secret": APP_SECRET})
    assert APP_SECRET not in str(info.value)
    creds = LazadaCredentials.from_mapping(KIT.credentials)
    assert APP_SECRET not in repr(creds) and ACCESS_TOKEN not in repr(creds)
    assert APP_SECRET not in repr(real) and ACCESS_TOKEN not in repr(real)


# --- the gateway's checks ----------------------------------------------------------------------------------------


def test_sandbox_accepts_get_query_and_post_form(shop: SandboxClient, sandbox_url: str,
                                                 http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    for method in ("GET", "POST"):
        body = raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER}, method=method)
        assert body["code"] == "0" and len(body["data"]) == 2


def test_sandbox_signs_over_query_and_form_together(shop: SandboxClient, sandbox_url: str,
                                                    http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    sent = {"app_key": APP_KEY, "sign_method": "sha256", "access_token": ACCESS_TOKEN,
            "timestamp": str(int(time.time() * 1000)), "order_id": ORDER}
    sent["sign"] = sdk_sign(APP_SECRET, "/order/items/get", sent)
    query = {k: sent[k] for k in ("app_key", "sign", "timestamp")}
    form = {k: v for k, v in sent.items() if k not in query}
    body = http_session.post(f"{sandbox_url}/rest/order/items/get", params=query, data=form, timeout=5).json()
    assert body["code"] == "0"


def test_sandbox_rejects_a_tampered_signature(shop: SandboxClient, sandbox_url: str,
                                              http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)

    def tamper(sent: dict[str, str]) -> None:
        sent["order_id"] = "31203"

    body = raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER}, mutate=tamper)
    assert body["code"] == "IncompleteSignature" and body["type"] == "ISV"
    error = classify(200, body, step="items")
    assert isinstance(error, PermanentError) and error.request_id == body["request_id"]
    lower = raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER},
                mutate=lambda sent: sent.update(sign=sent["sign"].lower()))
    assert lower["code"] == "IncompleteSignature", "Lazada's sign is UPPERCASE hex"


def test_wrong_secret_is_an_incomplete_signature(shop: SandboxClient, sandbox_url: str,
                                                 http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    adapter = make_adapter(sandbox_url, http_session, app_secret="not-the-secret")
    with pytest.raises(PermanentError) as info:
        adapter.read_status(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert info.value.code == "IncompleteSignature" and info.value.request_id
    assert info.value.http_status == 200 and info.value.step == "read_status"


def test_a_list_sent_as_repeated_keys_breaks_the_signature(shop: SandboxClient, sandbox_url: str,
                                                           http_session: requests.Session) -> None:
    """Gotcha 2: the SDK signs str(list) while requests form-encodes a list as repeated keys."""
    shop.add_order("lazada", SELLER_ID, ORDER)
    ids = [int(i["order_item_id"]) for i in shop.order("lazada", ORDER)["items"]]
    sent: dict[str, Any] = {"app_key": APP_KEY, "sign_method": "sha256", "access_token": ACCESS_TOKEN,
                            "timestamp": str(int(time.time() * 1000)), "order_id": ORDER,
                            "order_item_id_list": ids}
    sent["sign"] = sdk_sign(APP_SECRET, "/order/reverse/cancel/validate", sent)
    body = http_session.post(f"{sandbox_url}/rest/order/reverse/cancel/validate", data=sent, timeout=5).json()
    assert body["code"] == "IncompleteSignature"


def test_timestamp_window(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    stale = make_adapter(sandbox_url, http_session, clock=lambda: time.time() - 7300)
    with pytest.raises(PermanentError) as info:
        stale.read_status(request)
    assert info.value.code == "InvalidTimestamp"
    skewed = make_adapter(sandbox_url, http_session, clock=lambda: time.time() - 7000)
    assert skewed.read_status(request).state is OrderState.CANCELLABLE, "under 7200 s of skew passes"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER}, timestamp=iso)["code"] == "0"
    seconds = str(int(time.time()))
    assert raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER},
               timestamp=seconds)["code"] == "InvalidTimestamp", "a timestamp in seconds is 1970 in milliseconds"


def test_wrong_and_expired_tokens_are_auth_expired(shop: SandboxClient, sandbox_url: str,
                                                   http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    wrong = make_adapter(sandbox_url, http_session, access_token="50000600c1notmytoken")
    with pytest.raises(AuthExpired) as info:
        wrong.read_status(request)
    assert info.value.code == "IllegalAccessToken" and info.value.request_id
    good = make_adapter(sandbox_url, http_session)
    assert good.read_status(request).state is OrderState.CANCELLABLE
    shop.expire_token("lazada", SELLER_ID, at=time.time() - 1)
    with pytest.raises(AuthExpired):
        good.read_status(request)


def test_a_token_of_another_app_is_refused(shop: SandboxClient, sandbox_url: str,
                                           http_session: requests.Session) -> None:
    shop.add_shop("lazada", app_key="100777", app_secret="other_secret", access_token="other_token",
                  seller_id="300001")
    shop.add_order("lazada", SELLER_ID, ORDER)
    adapter = make_adapter(sandbox_url, http_session, access_token="other_token")
    with pytest.raises(AuthExpired):
        adapter.read_status(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))


@pytest.mark.parametrize(("mutate", "code"), [
    (lambda s: s.update(app_key="999999"), "InvalidAppKey"),
    (lambda s: s.update(sign_method="md5"), "InvalidSignMethod"),
    (lambda s: s.pop("sign"), "MissingParameter"),
    (lambda s: s.update(access_token="another"), "IncompleteSignature"),
])
def test_gateway_rejections(shop: SandboxClient, sandbox_url: str, http_session: requests.Session,
                            mutate: Callable[[dict[str, str]], None], code: str) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    body = raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER}, mutate=mutate)
    assert body["code"] == code
    assert isinstance(classify(200, body, step="items"), PermanentError)


def test_missing_access_token(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    body = raw(http_session, sandbox_url, "/order/items/get", {"order_id": ORDER}, token=None)
    assert body["code"] == "MissingParameter" and "access_token" in body["message"]


def test_missing_business_parameter(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    body = raw(http_session, sandbox_url, "/order/reverse/cancel/create",
               {"order_id": ORDER, "order_item_id_list": "[1]"}, method="POST")
    assert body["code"] == "MissingParameter" and "reason_id" in body["message"]


# --- the official SDK against the sandbox -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_official_sdk_against_the_sandbox(shop: SandboxClient, sandbox_url: str, method: str) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = LazopRequest("/order/items/get", method)
    request.add_api_param("order_id", ORDER)
    response = LazopClient(sandbox_url + "/rest", APP_KEY, APP_SECRET).execute(request, ACCESS_TOKEN)
    assert response.code == "0" and response.request_id
    assert [item["status"] for item in response.body["data"]] == ["pending", "pending"]
    rejected = LazopClient(sandbox_url + "/rest", APP_KEY, "wrong_secret").execute(request, ACCESS_TOKEN)
    assert rejected.code == "IncompleteSignature" and rejected.type == "ISV"


def test_official_sdk_cancels_an_order(shop: SandboxClient, sandbox_url: str) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    client = LazopClient(sandbox_url + "/rest", APP_KEY, APP_SECRET)
    ids = item_id_list([int(i["order_item_id"]) for i in shop.order("lazada", ORDER)["items"]])
    validate = LazopRequest("/order/reverse/cancel/validate", "GET")
    validate.add_api_param("order_id", ORDER)
    validate.add_api_param("order_item_id_list", ids)
    options = client.execute(validate, ACCESS_TOKEN).body["data"]["reason_options"]
    create = LazopRequest("/order/reverse/cancel/create")
    for key, value in (("order_id", ORDER), ("order_item_id_list", ids), ("reason_id", options[0]["reason_id"])):
        create.add_api_param(key, value)
    body = client.execute(create, ACCESS_TOKEN).body
    assert body["code"] == "0" and body["data"]["tip_type"] == "success"
    assert statuses(shop) == ["canceled", "canceled"]


# --- the cancel flow ---------------------------------------------------------------------------------------------


def test_plan() -> None:
    adapter = LazadaAdapter.from_credentials(KIT.credentials, base_url="http://127.0.0.1:9")
    steps = adapter.plan(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert [(s.name, s.api, s.writes) for s in steps] == [
        ("items", "GetOrderItems", False), ("validate", "OrderCancelValidate", False),
        ("create", "InitReverseOrderCancel", True), ("verify", "GetOrderItems", False),
    ]
    with pytest.raises(ValueError, match="no step"):
        adapter.run_step("refund", CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK), {})


def test_full_cancel_flow(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    state, last = cancel(adapter)
    assert last.outcome is None and state["verify"]["statuses"]
    order = shop.order("lazada", ORDER)
    assert KIT.is_cancelled(order) and order["cancels_applied"] == 1
    assert order["calls"] == {"GetOrderItems": 2, "OrderCancelValidate": 1, "InitReverseOrderCancel": 1}
    validate = state["validate"]
    assert validate["reason_name"] == "Out of Stock" and validate["reason_id"] == "10000021"
    assert validate["order_item_ids"] == [int(i["order_item_id"]) for i in order["items"]]
    assert validate["tip_content"] and state["create"]["tip_type"] == "success"
    assert order["extra"]["stock_zeroed"] == ["SKU-1", "SKU-2"], "Out of Stock zeroes the SKUs' stock"
    assert all(i["cancel_return_initiator"] == "cancellation-seller" for i in order["items"])


def test_step_data_survives_a_json_round_trip_and_holds_no_secret(shop: SandboxClient,
                                                                   adapter: LazadaAdapter) -> None:
    import json

    shop.add_order("lazada", SELLER_ID, ORDER)
    state, _ = cancel(adapter)
    text = json.dumps(state)
    assert json.loads(text) == state
    assert APP_SECRET not in text and ACCESS_TOKEN not in text


def test_create_resumes_from_stored_validate_data(shop: SandboxClient, sandbox_url: str,
                                                  http_session: requests.Session) -> None:
    """A crash after validate: another worker, another adapter, the stored data is enough for create."""
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = CancelRequest(order_id=ORDER, reason=Reason.SOURCING_DELAY)
    first = make_adapter(sandbox_url, http_session)
    state = {"items": dict(first.run_step("items", request, {}).data)}
    state["validate"] = dict(first.run_step("validate", request, state).data)
    second = make_adapter(sandbox_url, requests.Session())
    second.run_step("create", request, state)
    second.run_step("verify", request, state)
    order = shop.order("lazada", ORDER)
    assert order["cancels_applied"] == 1 and order["extra"]["stock_zeroed"] == []
    assert order["items"][0]["reason"] == "Sourcing Delay"


def test_create_without_validate_data_is_refused_before_any_call(shop: SandboxClient,
                                                                 adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    with pytest.raises(PermanentError) as info:
        adapter.run_step("create", CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK), {})
    assert info.value.code == "missing_step_data"
    assert calls(shop, "InitReverseOrderCancel") == 0


def test_already_cancelled_order(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER, state="cancelled")
    state, last = cancel(adapter)
    assert last.outcome is Outcome.ALREADY_CANCELLED and list(state) == ["items"]
    assert calls(shop, "InitReverseOrderCancel") == 0 and calls(shop, "OrderCancelValidate") == 0
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    status = adapter.read_status(request)
    assert status.state is OrderState.CANCELLED and status.raw_status == "canceled"
    assert adapter.preview(request).state is OrderState.CANCELLED


def test_second_create_answers_e0123_and_cancels_nothing_twice(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    state, _ = cancel(adapter)
    with pytest.raises(PermanentError) as info:
        adapter.run_step("create", request, state)
    assert info.value.code == "123" and "E0123" in info.value.message
    assert info.value.check_status, "E0123 may mean 'already cancelled': the caller reads the status"
    assert adapter.read_status(request).state is OrderState.CANCELLED
    assert shop.order("lazada", ORDER)["cancels_applied"] == 1


def test_shipped_order_is_not_cancellable(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER, state="shipped")
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    with pytest.raises(PermanentError) as info:
        cancel(adapter)
    assert info.value.code == "not_cancellable" and "shipped" in info.value.message
    assert info.value.step == "items" and info.value.http_status == 200 and info.value.request_id
    status = adapter.read_status(request)
    assert status.state is OrderState.NOT_CANCELLABLE and status.raw_status == "shipped"
    preview = adapter.preview(request)
    assert preview.state is OrderState.NOT_CANCELLABLE and "shipped" in preview.side_effects[0]
    assert calls(shop, "OrderCancelValidate") == 0


def test_order_ships_between_validate_and_create(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "ship", endpoint="OrderCancelValidate", order_id=ORDER)
    with pytest.raises(PermanentError) as info:
        cancel(adapter)
    error = info.value
    assert error.step == "create" and error.code == "tip_type_error" and error.check_status
    assert "Pending ~ Ready To Ship" in error.message and error.request_id
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    assert adapter.read_status(request).state is OrderState.NOT_CANCELLABLE
    assert shop.order("lazada", ORDER)["cancels_applied"] == 0


def test_validate_refusal_is_permanent(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "ship", endpoint="GetOrderItems", order_id=ORDER)
    with pytest.raises(PermanentError) as info:
        cancel(adapter)
    assert info.value.step == "validate" and info.value.code == "tip_type_error"
    assert calls(shop, "InitReverseOrderCancel") == 0


def test_verify_waits_for_every_target(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    state = {"items": dict(adapter.run_step("items", request, {}).data)}
    with pytest.raises(TransientError) as info:
        adapter.run_step("verify", request, state)
    assert info.value.code == "not_yet_cancelled" and "pending" in info.value.message


# --- item quirks ---------------------------------------------------------------------------------------------------


def test_partial_cancel_of_a_pending_order(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER, item_count=3)
    ids = [int(i["order_item_id"]) for i in shop.order("lazada", ORDER)["items"]]
    items = ({"order_item_id": ids[0]}, {"order_item_id": str(ids[2])})
    state, last = cancel(adapter, items=items)
    assert last.outcome is None and state["create"]["order_item_ids"] == [ids[0], ids[2]]
    assert statuses(shop) == ["canceled", "pending", "canceled"]
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK, items=items)
    assert adapter.read_status(request).state is OrderState.CANCELLED
    whole = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    assert adapter.read_status(whole).state is OrderState.CANCELLABLE


def test_cancelling_a_packed_item_cancels_its_package(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    base = int(ORDER) * 100
    rows = [{"status": "packed", "package_id": "FP1"}, {"status": "packed", "package_id": "FP1"},
            {"status": "packed", "package_id": "FP2"}]
    shop.add_order("lazada", SELLER_ID, ORDER, items=rows)
    items = ({"order_item_id": base + 1},)
    request = CancelRequest(order_id=ORDER, reason=Reason.PRICING_ERROR, items=items)
    preview = adapter.preview(request)
    assert any(f"[{base + 2}]" in effect and "package" in effect for effect in preview.side_effects)
    state, _ = cancel(adapter, Reason.PRICING_ERROR, items=items)
    assert state["items"]["package_spill"] == [base + 2]
    assert statuses(shop) == ["canceled", "canceled", "packed"]
    order = shop.order("lazada", ORDER)
    assert order["cancels_applied"] == 1 and order["extra"]["stock_zeroed"] == ["SKU-1", "SKU-2"]


def test_cancelled_targets_are_dropped_when_others_remain(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER, items=[{"status": "canceled"}, {"status": "pending"}])
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    assert adapter.read_status(request).state is OrderState.CANCELLABLE
    preview = adapter.preview(request)
    assert any("already cancelled" in effect for effect in preview.side_effects)
    state, _ = cancel(adapter)
    second = int(ORDER) * 100 + 2
    assert state["items"]["order_item_ids"] == [second]
    assert state["items"]["already_canceled"] == [second - 1]
    assert statuses(shop) == ["canceled", "canceled"]
    assert shop.order("lazada", ORDER)["cancels_applied"] == 1


def test_one_shipped_target_blocks_the_cancel(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER, items=[{"status": "ready_to_ship", "package_id": "FP9"},
                                                     {"status": "shipped"}])
    with pytest.raises(PermanentError, match="shipped") as info:
        cancel(adapter)
    assert info.value.code == "not_cancellable"
    first = ({"order_item_id": int(ORDER) * 100 + 1},)
    _, last = cancel(adapter, items=first)
    assert last.outcome is None and statuses(shop) == ["canceled", "shipped"]


def test_unknown_and_malformed_items(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    with pytest.raises(PermanentError) as info:
        cancel(adapter, items=({"order_item_id": 42},))
    assert info.value.code == "unknown_item"
    with pytest.raises(PermanentError) as info:
        cancel(adapter, items=({"item_id": 42},))
    assert info.value.code == "invalid_item"


def test_order_of_another_shop_is_invalid(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_shop("lazada", app_key=APP_KEY, app_secret=APP_SECRET, access_token="second_seller_token",
                  seller_id="200002")
    shop.add_order("lazada", "200002", "77001")
    with pytest.raises(PermanentError) as info:
        cancel(adapter, order_id="77001")
    assert info.value.code == "16" and info.value.step == "items"


# --- reasons -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "reason", "name"), [
    ("sg", Reason.OUT_OF_STOCK, "Out of Stock"),
    ("sg", Reason.CUSTOMER_REQUEST, "Customer Requested Cancellation"),
    ("my", Reason.PRICING_ERROR, "Wrong Price or Pricing Error"),
    ("vn", Reason.OUT_OF_STOCK, "Hết hàng"),
    ("vn", Reason.PRICING_ERROR, "Sai giá hoặc lỗi giá"),
    ("th", Reason.OUT_OF_STOCK, "สินค้าหมด"),
    ("th", Reason.SOURCING_DELAY, "การจัดหาสินค้าล่าช้า"),
    ("id", Reason.OUT_OF_STOCK, "Stok habis"),
    ("ph", Reason.UNDELIVERABLE_AREA, "Unable to Deliver to Buyer's Address"),
])
def test_reason_ids_come_from_the_country_s_options(
    sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session, country: str, reason: Reason,
    name: str,
) -> None:
    token = f"token_{country}"
    sandbox.add_shop("lazada", app_key=APP_KEY, app_secret=APP_SECRET, access_token=token, country=country,
                     seller_id=f"seller_{country}")
    sandbox.add_order("lazada", f"seller_{country}", ORDER)
    adapter = make_adapter(sandbox_url, http_session, access_token=token, country=country)
    state, _ = cancel(adapter, reason)
    assert state["validate"]["reason_name"] == name
    assert sandbox.order("lazada", ORDER)["items"][0]["reason"] == name


def test_reason_ids_differ_by_country(sandbox: SandboxClient, sandbox_url: str,
                                      http_session: requests.Session) -> None:
    ids: set[str] = set()
    for country in ("sg", "vn"):
        token = f"token_{country}"
        sandbox.add_shop("lazada", app_key=APP_KEY, app_secret=APP_SECRET, access_token=token, country=country,
                         seller_id=f"seller_{country}")
        sandbox.add_order("lazada", f"seller_{country}", f"{ORDER}{len(ids)}")
        adapter = make_adapter(sandbox_url, http_session, access_token=token, country=country)
        request = CancelRequest(order_id=f"{ORDER}{len(ids)}", reason=Reason.OUT_OF_STOCK)
        items = adapter.run_step("items", request, {})
        ids.add(adapter.run_step("validate", request, {"items": items.data}).data["reason_id"])
    assert len(ids) == 2


def test_unmappable_reason_stops_before_any_write(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    with pytest.raises(PermanentError) as info:
        cancel(adapter, Reason.COD_NOT_SUPPORTED)
    assert info.value.code == "unmappable_reason" and info.value.step == "validate"
    assert "Out of Stock" in info.value.message, "the offered names help the operator"
    assert calls(shop, "InitReverseOrderCancel") == 0
    with pytest.raises(PermanentError, match="COD_NOT_SUPPORTED"):
        adapter.preview(CancelRequest(order_id=ORDER, reason=Reason.COD_NOT_SUPPORTED))


def test_sandbox_refuses_a_reason_of_another_country(shop: SandboxClient, sandbox_url: str,
                                                     http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    first = str(int(ORDER) * 100 + 1)
    body = raw(http_session, sandbox_url, "/order/reverse/cancel/create",
               {"order_id": ORDER, "order_item_id_list": f"[{first}]", "reason_id": "10200021"}, method="POST")
    assert body["code"] == "104"
    assert statuses(shop) == ["pending", "pending"]


# --- preview -------------------------------------------------------------------------------------------------------


def test_preview_reads_only_and_reports_stock_zeroing(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    oos = adapter.preview(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert oos.state is OrderState.CANCELLABLE and oos.raw_status == "pending" and oos.request_id
    assert any("stock will be set to 0" in effect for effect in oos.side_effects)
    assert any("SKU stock may be set to 0" in effect for effect in oos.side_effects), "tip_content is shown"
    delay = adapter.preview(CancelRequest(order_id=ORDER, reason=Reason.SOURCING_DELAY))
    assert not any("stock will be set to 0" in effect for effect in delay.side_effects)
    order = shop.order("lazada", ORDER)
    assert order["calls"].get("InitReverseOrderCancel", 0) == 0 and order["cancels_applied"] == 0
    assert order["calls"]["OrderCancelValidate"] == 2


def test_preview_reports_a_validate_refusal(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "ship", endpoint="GetOrderItems", order_id=ORDER)
    preview = adapter.preview(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert preview.state is OrderState.NOT_CANCELLABLE and "Ready To Ship" in preview.side_effects[0]


# --- classification ------------------------------------------------------------------------------------------------

TABLE: list[tuple[str, str, type[PlatformError], bool]] = [
    # code, type, class, check_status on a write
    ("ApiCallLimit", "ISP", RateLimited, False),
    ("901", "ISP", RateLimited, False),
    ("HOT_KEY_BLOCK_EXCEPTION", "ISP", RateLimited, False),
    ("AppCallLimit", "ISV", RateLimited, False),
    ("4136", "ISP", TransientError, True),
    ("4137", "ISP", TransientError, True),
    ("SYSTEM_BUSY", "ISP", TransientError, True),
    ("SYSTEM_TIMEOUT", "ISP", TransientError, True),
    ("ServiceTimeout", "ISP", TransientError, True),
    ("UnknownRuntimeException", "SYSTEM", TransientError, True),
    ("6", "ISP", TransientError, True),
    ("E006", "ISP", TransientError, True),
    ("106", "ISV", TransientError, True),
    ("E0106", "ISV", TransientError, True),
    ("SYSTEM_ERROR", "SYSTEM", TransientError, True),
    ("BIZ_DEGRADATION_ERROR", "SYSTEM", TransientError, True),
    ("SomethingNew", "ISP", TransientError, True),
    ("IllegalAccessToken", "ISV", AuthExpired, False),
    ("IllegalRefreshToken", "ISV", ReauthRequired, False),
    ("AUTH_TYPE_UNSUPPORTED", "ISV", ReauthRequired, False),
    ("InvalidCode", "ISV", ReauthRequired, False),
    ("AppNotSubscribed", "ISV", ReauthRequired, False),
    ("IncompleteSignature", "ISV", ConfigError, False),
    ("MissingParameter", "ISV", PermanentError, False),
    ("InvalidAppKey", "ISV", ConfigError, False),
    ("APP_KEY_INVALID", "ISV", ConfigError, False),
    ("InvalidApi", "ISV", PermanentError, False),
    ("InvalidTimestamp", "ISV", ConfigError, False),
    ("102", "ISV", PermanentError, False),
    ("E0102", "ISV", PermanentError, False),
    ("104", "ISV", PermanentError, False),
    ("115", "ISV", PermanentError, False),
    ("116", "ISV", PermanentError, False),
    ("117", "ISV", PermanentError, False),
    ("118", "ISV", PermanentError, False),
    ("122", "ISV", PermanentError, False),
    ("124", "ISV", PermanentError, False),
    ("E0124", "ISV", PermanentError, False),
    ("16", "ISV", PermanentError, False),
    ("E016", "ISV", PermanentError, False),
    ("SellerNotVerified", "ISV", PermanentError, False),
    ("SellerNotActive", "ISV", ConfigError, False),
    ("123", "ISV", PermanentError, True),
    ("E0123", "ISV", PermanentError, True),
]


@pytest.mark.parametrize(("code", "kind", "cls", "check_on_write"), TABLE)
def test_classification_table(code: str, kind: str, cls: type[PlatformError], check_on_write: bool) -> None:
    body = {"code": code, "type": kind, "message": f"message of {code}", "request_id": "2101abc"}
    error = classify(200, body, step="create", write=True)
    assert type(error) is cls
    assert error.check_status is check_on_write
    assert (error.code, error.request_id, error.step, error.http_status) == (code, "2101abc", "create", 200)
    assert error.platform == "lazada" and error.message == f"message of {code}"
    read = classify(200, body, step="items", write=False)
    assert type(read) is cls
    assert read.check_status is (code in ("123", "E0123")), "only E0123 asks for a status read on a read step"


@pytest.mark.parametrize(("message", "expected_s"), [
    ("Api access frequency exceeds the limit. this ban will last 1 seconds.", 1.0),
    ("The request has exceeded the limit for this API.this ban will last 7 seconds", 7.0),
    ("Api access frequency exceeds the limit.", 1.0),
])
def test_api_call_limit_reports_the_stated_ban(message: str, expected_s: float) -> None:
    error = classify(200, {"code": "ApiCallLimit", "type": "ISP", "message": message}, step="items")
    assert isinstance(error, RateLimited) and error.retry_after_s == expected_s


def test_other_limits() -> None:
    fast = classify(200, {"code": "901", "message": "Limit service request speed"}, step="items")
    assert isinstance(fast, RateLimited) and fast.retry_after_s == 1.0
    app = classify(200, {"code": "AppCallLimit", "message": "app limit"}, step="items")
    assert isinstance(app, RateLimited) and app.retry_after_s is not None and app.retry_after_s >= 60


def test_body_code_wins_over_http_status() -> None:
    assert type(classify(500, {"code": "IllegalAccessToken"}, step="items")) is AuthExpired
    assert type(classify(200, {"code": "Whatever"}, step="items")) is PermanentError
    server = classify(502, {"code": "Whatever"}, step="create", write=True)
    assert type(server) is TransientError and server.check_status
    assert type(classify(429, {"code": "Whatever"}, step="items")) is RateLimited


def test_an_unknown_code_is_ambiguous_only_to_a_write() -> None:
    body = {"code": "SomethingNew", "type": "ISV", "message": "new", "request_id": "r2"}
    write = classify(200, body, step="create", write=True)
    assert type(write) is TransientError and write.check_status and write.code == "SomethingNew"
    read = classify(200, body, step="items", write=False)
    assert type(read) is PermanentError and not read.check_status
    refused = classify(403, {"code": "0", "request_id": "r3"}, step="create", write=True)
    assert type(refused) is TransientError and refused.check_status, "a 4xx with code 0 is no documented refusal"


def test_tip_type_error_with_code_zero_is_a_refusal() -> None:
    body = {"code": "0", "data": {"tip_type": "error", "tip_content": "cannot cancel"}, "request_id": "r1"}
    error = classify(200, body, step="create", write=True)
    assert type(error) is PermanentError and error.check_status and error.code == "tip_type_error"
    assert "cannot cancel" in error.message and error.request_id == "r1"


# --- errors through the sandbox ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "cls", "check_status"), [
    ({"code": "ApiCallLimit", "ban_s": 3}, RateLimited, False),
    ({"code": "6"}, TransientError, True),
    ({"code": "106"}, TransientError, True),
    ({"code": "ServiceTimeout"}, TransientError, True),
    ({"code": "IllegalAccessToken"}, AuthExpired, False),
    ({"code": "123"}, PermanentError, True),
    ({"code": "104"}, PermanentError, False),
    ({"code": "SYSTEM_ERROR", "http_status": 503}, TransientError, True),
])
def test_faults_on_create_are_classified(shop: SandboxClient, adapter: LazadaAdapter, fault: dict[str, Any],
                                         cls: type[PlatformError], check_status: bool) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "error", endpoint="InitReverseOrderCancel", **fault)
    with pytest.raises(PlatformError) as info:
        cancel(adapter)
    error = info.value
    assert type(error) is cls and error.check_status is check_status
    assert error.step == "create" and error.request_id and error.code == fault["code"]
    if cls is RateLimited:
        assert isinstance(error, RateLimited) and error.retry_after_s == 3.0
    assert shop.order("lazada", ORDER)["cancels_applied"] == 0


def test_error_after_the_write_is_reconciled_by_read_status(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "error", endpoint="InitReverseOrderCancel", code="6", after_write=True)
    with pytest.raises(TransientError) as info:
        cancel(adapter)
    assert info.value.check_status
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    assert adapter.read_status(request).state is OrderState.CANCELLED
    assert shop.order("lazada", ORDER)["cancels_applied"] == 1


def test_unreadable_answers(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "html", endpoint="InitReverseOrderCancel")
    with pytest.raises(TransientError) as info:
        cancel(adapter)
    assert info.value.http_status == 502 and info.value.check_status
    shop.fault("lazada", "truncate", endpoint="GetOrderItems")
    with pytest.raises(TransientError) as info:
        cancel(adapter)
    assert info.value.code == "invalid_body"


def test_sandbox_rate_limit_per_api(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.limits(True, {f"lazada/{SELLER_ID}": (0.01, 2)})
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    adapter.read_status(request)
    adapter.read_status(request)
    with pytest.raises(RateLimited) as info:
        adapter.read_status(request)
    assert info.value.code == "ApiCallLimit" and info.value.retry_after_s == 1.0
    assert "ban will last 1 seconds" in info.value.message
    state = {"items": {"order_item_ids": [int(ORDER) * 100 + 1]}}
    assert adapter.run_step("validate", request, state).data["reason_id"], "another API has its own bucket"


def test_default_rate_limit_is_lazada_s(shop: SandboxClient, adapter: LazadaAdapter) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.limits(True)
    request = CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK)
    with pytest.raises(RateLimited):
        for _ in range(25):
            adapter.read_status(request)
    assert 20 <= calls(shop, "GetOrderItems") <= 25


def test_throttle_sees_every_api(shop: SandboxClient, sandbox_url: str, http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    seen: list[str] = []
    adapter = build_adapter("lazada", KIT.credentials, base_url=sandbox_url, session=http_session,
                            throttle=seen.append)
    assert isinstance(adapter, LazadaAdapter)
    cancel(adapter)
    assert seen == ["GetOrderItems", "OrderCancelValidate", "InitReverseOrderCancel", "GetOrderItems"]


# --- secrets -------------------------------------------------------------------------------------------------------


def _texts(error: PlatformError) -> str:
    cause = error.__cause__
    return " ".join([str(error), repr(error), str(error.to_dict()), repr(cause) if cause else ""])


def test_secrets_never_in_errors(shop: SandboxClient, adapter: LazadaAdapter, http_session: requests.Session) -> None:
    shop.add_order("lazada", SELLER_ID, ORDER)
    echo = f"bad token {ACCESS_TOKEN} for secret {APP_SECRET}"
    shop.fault("lazada", "error", endpoint="GetOrderItems", code="IllegalAccessToken", message=echo)
    with pytest.raises(AuthExpired) as info:
        cancel(adapter)
    assert "***" in info.value.message
    for secret in KIT.secrets:
        assert secret not in _texts(info.value)
    offline = build_adapter("lazada", KIT.credentials, base_url="http://127.0.0.1:9", session=http_session)
    with pytest.raises(TransientError) as transport:
        offline.read_status(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert transport.value.code == "connect_failed"
    for secret in KIT.secrets:
        assert secret not in _texts(transport.value)


def test_secrets_never_in_a_read_timeout(shop: SandboxClient, sandbox_url: str) -> None:
    from cancelq.platforms.http import Timeouts

    shop.add_order("lazada", SELLER_ID, ORDER)
    shop.fault("lazada", "latency", endpoint="GetOrderItems", latency_ms=400)
    adapter = build_adapter("lazada", KIT.credentials, base_url=sandbox_url, session=requests.Session(),
                            timeouts=Timeouts(connect_s=1, read_s=0.1))
    with pytest.raises(TransientError) as info:
        adapter.read_status(CancelRequest(order_id=ORDER, reason=Reason.OUT_OF_STOCK))
    assert info.value.code == "timeout"
    for secret in KIT.secrets:
        assert secret not in _texts(info.value)

