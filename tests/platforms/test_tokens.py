"""Token refresh on the four platforms, against the sandbox over real HTTP (platforms.md 1.3, 2.4, 3.2, 4.2)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from cancelq.platforms import lazada, shopee, shopline, token_rest
from cancelq.platforms.base import CancelRequest, OrderState
from cancelq.platforms.errors import (
    AuthExpired,
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from cancelq.platforms.tokens import TokenSet, refresh_tokens
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.state import default_refresh_token
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

ENDPOINT = "refresh_access_token"
ORDER = CancelRequest(order_id="ORD-1", reason=Reason.CUSTOMER_REQUEST)


@dataclass(frozen=True)
class Case:
    """A platform's refresh in the sandbox: its kit, its refresh token and what its answers should be."""

    kit: Kit
    refresh_token: str | None
    secret_key: str
    """The credentials key of the app's secret."""
    lifetime_s: float
    refresh_lifetime_s: float | None
    killed_code: str
    transient_fault: Mapping[str, Any]

    @property
    def platform(self) -> str:
        return self.kit.platform

    @property
    def ref(self) -> str:
        return self.kit.shop_ref

    def shop_spec(self, **extra: Any) -> dict[str, Any]:
        spec = dict(self.kit.shop_spec, **extra)
        if self.refresh_token:
            spec.setdefault("refresh_token", self.refresh_token)
        return spec

    def credentials(self, **extra: Any) -> dict[str, Any]:
        creds = dict(self.kit.credentials, **extra)
        if self.refresh_token:
            creds.setdefault("refresh_token", self.refresh_token)
        return creds

    def secrets(self) -> tuple[str, ...]:
        return (*self.kit.secrets, *((self.refresh_token,) if self.refresh_token else ()))


CASES = [
    Case(SHOPEE, "52467a4f6e6c4d6b53654e7a4c6f7274", "partner_key", 4 * 3600, 30 * 86400, "refresh_token_expired",
         {"code": "error_server"}),
    Case(LAZADA, "50001601c10sandboxLazadaRefreshTokenb2f8", "app_secret", 864000, 4320000, "IllegalRefreshToken",
         {"code": "6"}),
    Case(SHOPLINE, None, "app_secret", 10 * 3600, None, "UNAUTHORIZED", {"http_status": 503}),
    Case(SHOPLAZZA, "kit-shoplazza-refresh-token-5d1c0a9e7b3f4e21", "client_secret", 24 * 3600, None,
         "invalid_grant", {"http_status": 500}),
]
ROTATING = [c for c in CASES if c.refresh_token]
BY_NAME = {c.platform: c for c in CASES}


@pytest.fixture(params=CASES, ids=lambda c: c.platform)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=ROTATING, ids=lambda c: c.platform)
def rotating(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def _seed(case: Case, sandbox: SandboxClient, **extra: Any) -> None:
    sandbox.add_shop(case.platform, **case.shop_spec(**extra))
    sandbox.add_order(case.platform, case.ref, ORDER.order_id, state="cancellable")


def _refresh(case: Case, url: str, session: requests.Session, credentials: Mapping[str, Any] | None = None,
             clock: Callable[[], float] = time.time) -> TokenSet:
    return refresh_tokens(case.platform, credentials or case.credentials(), base_url=url, session=session,
                          clock=clock)


def _everything_said(exc: PlatformError) -> str:
    cause = exc.__cause__
    return " ".join([str(exc), repr(exc), json.dumps(exc.to_dict()), repr(cause) if cause else ""])


# --- a refresh gives a working token and retires the old one --------------------------------------------------


def test_refresh_gives_a_new_token_that_works_and_the_old_one_is_refused(
    case: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(case, sandbox)
    creds = case.credentials()
    before = time.time()
    tokens = _refresh(case, sandbox_url, http_session)

    assert tokens.access_token and tokens.access_token != creds["access_token"]
    if case.refresh_token:
        assert tokens.refresh_token and tokens.refresh_token != case.refresh_token
    else:
        assert tokens.refresh_token is None  # SHOPLINE has no refresh token
    assert tokens.expires_at == pytest.approx(before + case.lifetime_s, abs=5)
    if case.refresh_lifetime_s is None:
        assert tokens.refresh_expires_at is None
    else:
        assert tokens.refresh_expires_at == pytest.approx(before + case.refresh_lifetime_s, abs=5)

    view = sandbox.shop(case.platform, case.ref)
    assert view["refreshes"] == 1 and view["refresh_valid"] is True
    assert view["token_expires_at"] == pytest.approx(tokens.expires_at, abs=2)

    fresh = build_adapter(case.platform, tokens.apply(creds), base_url=sandbox_url, session=http_session)
    assert fresh.read_status(ORDER).state is OrderState.CANCELLABLE
    stale = build_adapter(case.platform, creds, base_url=sandbox_url, session=http_session)
    with pytest.raises(AuthExpired):
        stale.read_status(ORDER)


def test_adapters_accept_a_refresh_token_and_keep_it_out_of_reprs(
    rotating: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(rotating, sandbox)
    adapter = build_adapter(rotating.platform, rotating.credentials(), base_url=sandbox_url, session=http_session)
    assert adapter.read_status(ORDER).state is OrderState.CANCELLABLE
    shown = repr(adapter) + repr(getattr(adapter, "credentials", ""))
    assert rotating.refresh_token and rotating.refresh_token not in shown


def test_token_set_hides_its_tokens_and_updates_credentials() -> None:
    tokens = TokenSet(access_token="new-access-9f8e", refresh_token="new-refresh-7d6c", expires_at=1.0)
    assert "new-access-9f8e" not in repr(tokens) and "new-refresh-7d6c" not in repr(tokens)
    creds = {"shop": "x", "access_token": "old", "refresh_token": "old-r"}
    assert tokens.apply(creds) == {"shop": "x", "access_token": "new-access-9f8e", "refresh_token": "new-refresh-7d6c"}
    assert TokenSet(access_token="a").apply(creds) == {"shop": "x", "access_token": "a", "refresh_token": "old-r"}
    assert creds["access_token"] == "old"  # a new mapping, the old one untouched


# --- single-use refresh tokens ----------------------------------------------------------------------------------

SPENT_CODES = {"shopee": "error_shop_refresh_token", "lazada": "IllegalRefreshToken", "shoplazza": "invalid_grant"}


def test_a_spent_refresh_token_needs_reauthorisation_and_the_new_one_works(
    rotating: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(rotating, sandbox)
    first = _refresh(rotating, sandbox_url, http_session)
    with pytest.raises(ReauthRequired) as spent:
        _refresh(rotating, sandbox_url, http_session)  # the old refresh token again
    assert spent.value.code == SPENT_CODES[rotating.platform] and spent.value.step == "refresh"

    second = _refresh(rotating, sandbox_url, http_session, credentials=first.apply(rotating.credentials()))
    assert second.refresh_token not in (None, first.refresh_token)
    assert sandbox.shop(rotating.platform, rotating.ref)["refreshes"] == 2
    adapter = build_adapter(rotating.platform, second.apply(rotating.credentials()), base_url=sandbox_url,
                            session=http_session)
    assert adapter.read_status(ORDER).state is OrderState.CANCELLABLE


def test_shopee_lost_answer_spends_the_refresh_token(
    sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    case = BY_NAME["shopee"]
    _seed(case, sandbox)
    sandbox.fault("shopee", "truncate", endpoint=ENDPOINT, after_write=True)
    with pytest.raises(TransientError) as lost:
        _refresh(case, sandbox_url, http_session)
    assert lost.value.check_status  # the refresh may have been applied...
    assert "access_token" not in _everything_said(lost.value)  # ...and no part of its answer is quoted
    assert sandbox.shop("shopee", case.ref)["refreshes"] == 1
    with pytest.raises(ReauthRequired):  # ...and it was: the old refresh token is spent
        _refresh(case, sandbox_url, http_session)


def test_a_shop_seeded_without_refresh_token_gets_the_derived_one(
    rotating: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    sandbox.add_shop(rotating.platform, **rotating.kit.shop_spec)
    derived = default_refresh_token(rotating.platform, rotating.ref)
    tokens = _refresh(rotating, sandbox_url, http_session, credentials=rotating.credentials(refresh_token=derived))
    assert tokens.refresh_token and tokens.refresh_token != derived


# --- refusals ---------------------------------------------------------------------------------------------------


def test_a_killed_refresh_grant_needs_reauthorisation(
    case: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(case, sandbox)
    sandbox.expire_token(case.platform, case.ref, refresh=True)
    view = sandbox.shop(case.platform, case.ref)
    assert view["refresh_valid"] is False and view["token_expires_at"] <= time.time()

    with pytest.raises(ReauthRequired) as killed:
        _refresh(case, sandbox_url, http_session)
    assert killed.value.code == case.killed_code and killed.value.platform == case.platform
    assert sandbox.shop(case.platform, case.ref)["refreshes"] == 0
    adapter = build_adapter(case.platform, case.credentials(), base_url=sandbox_url, session=http_session)
    with pytest.raises(AuthExpired):  # the access token was expired as before
        adapter.read_status(ORDER)


def test_a_transient_fault_on_the_refresh_is_transient_and_the_retry_succeeds(
    case: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(case, sandbox)
    sandbox.fault(case.platform, "error", endpoint=ENDPOINT, **case.transient_fault)
    with pytest.raises(TransientError) as failed:
        _refresh(case, sandbox_url, http_session)
    assert type(failed.value) is TransientError and failed.value.step == "refresh"
    assert sandbox.shop(case.platform, case.ref)["refreshes"] == 0

    tokens = _refresh(case, sandbox_url, http_session)
    assert tokens.access_token
    assert sandbox.shop(case.platform, case.ref)["refreshes"] == 1
    assert sandbox.stats()["calls"][case.platform][ENDPOINT] == 2


def test_a_dropped_connection_is_transient_and_may_have_applied(
    case: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(case, sandbox)
    sandbox.fault(case.platform, "drop", endpoint=ENDPOINT)
    with pytest.raises(TransientError) as dropped:
        _refresh(case, sandbox_url, http_session)
    assert dropped.value.code == "connection_lost" and dropped.value.check_status


def test_a_wrong_app_secret_is_permanent(
    case: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(case, sandbox)
    creds = case.credentials(**{case.secret_key: "not-the-app-secret"})
    with pytest.raises(PermanentError) as wrong:
        _refresh(case, sandbox_url, http_session, credentials=creds)
    expected = {"shopee": "error_sign", "lazada": "IncompleteSignature", "shopline": "SIGN_INVALID",
                "shoplazza": "invalid_client"}
    assert wrong.value.code == expected[case.platform]
    assert sandbox.shop(case.platform, case.ref)["refreshes"] == 0


@pytest.mark.parametrize(("platform", "code"), [
    ("shopee", "error_param"), ("lazada", "InvalidTimestamp"), ("shopline", "TIMESTAMP_INVALID"),
])
def test_a_stale_timestamp_is_refused(platform: str, code: str, sandbox: SandboxClient, sandbox_url: str,
                                      http_session: requests.Session) -> None:
    case = BY_NAME[platform]
    _seed(case, sandbox)
    with pytest.raises(PermanentError) as stale:
        _refresh(case, sandbox_url, http_session, clock=lambda: time.time() - 3 * 3600)
    assert stale.value.code == code


def test_shopline_refresh_right_after_minting_is_rate_limited(
    sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    case = BY_NAME["shopline"]
    _seed(case, sandbox, refresh_cooldown_s=3600)
    with pytest.raises(RateLimited) as throttled:
        _refresh(case, sandbox_url, http_session)
    assert throttled.value.code == "REQUEST_FREQUENTLY" and throttled.value.http_status == 429
    assert sandbox.shop("shopline", case.ref)["refreshes"] == 0


# --- classification of the refresh endpoints' answers, through the sandbox --------------------------------------

FAULT_TABLE = [
    ("shopee", {"code": "error_network", "message": "Inner http call failed"}, TransientError),
    ("shopee", {"code": "error_rate_limit"}, RateLimited),
    ("shopee", {"code": "refresh_token_expired"}, ReauthRequired),
    ("shopee", {"code": "error_shop_refresh_token"}, ReauthRequired),
    ("shopee", {"code": "shop_access_expired"}, ReauthRequired),
    ("shopee", {"code": "shop_no_linked"}, ReauthRequired),
    ("shopee", {"code": "shop_banned", "message": "The shop account has been banned."}, ReauthRequired),
    ("shopee", {"code": "error_auth", "message": "Invalid partner_id or shopid."}, ReauthRequired),
    ("shopee", {"code": "error_auth", "message": "Invalid access_token."}, ReauthRequired),
    ("shopee", {"code": "error_sign", "message": "Wrong sign."}, ConfigError),
    ("lazada", {"code": "IllegalRefreshToken"}, ReauthRequired),
    ("lazada", {"code": "AUTH_TYPE_UNSUPPORTED"}, ReauthRequired),
    ("lazada", {"code": "IllegalAccessToken"}, ReauthRequired),
    ("lazada", {"code": "ApiCallLimit", "ban_s": 3}, RateLimited),
    ("lazada", {"code": "ServiceTimeout"}, TransientError),
    ("lazada", {"code": "IncompleteSignature"}, ConfigError),
    ("shopline", {"http_status": 429, "code": "REQUEST_FREQUENTLY", "retry_after_s": 30}, RateLimited),
    ("shopline", {"http_status": 401}, ReauthRequired),
    ("shopline", {"http_status": 403}, ReauthRequired),
    ("shopline", {"http_status": 404}, ReauthRequired),
    ("shopline", {"http_status": 400}, PermanentError),
    ("shopline", {"http_status": 423}, TransientError),
    ("shoplazza", {"http_status": 401}, ReauthRequired),
    ("shoplazza", {"http_status": 429, "retry_after_s": 2}, RateLimited),
    ("shoplazza", {"http_status": 400}, PermanentError),
    ("shoplazza", {"http_status": 503}, TransientError),
]


@pytest.mark.parametrize(("platform", "fault", "expected"), FAULT_TABLE,
                         ids=[f"{p}-{f.get('code') or f['http_status']}" for p, f, _ in FAULT_TABLE])
def test_refresh_answers_are_classified(platform: str, fault: dict[str, Any], expected: type[PlatformError],
                                        sandbox: SandboxClient, sandbox_url: str,
                                        http_session: requests.Session) -> None:
    case = BY_NAME[platform]
    _seed(case, sandbox)
    sandbox.fault(platform, "error", endpoint=ENDPOINT, **fault)
    with pytest.raises(PlatformError) as raised:
        _refresh(case, sandbox_url, http_session)
    assert type(raised.value) is expected
    assert raised.value.step == "refresh" and raised.value.platform == platform
    stated = fault.get("retry_after_s") or fault.get("ban_s")
    if stated:  # the platform's stated wait (Retry-After, "ban will last N seconds") is kept
        assert isinstance(raised.value, RateLimited) and raised.value.retry_after_s == stated
    assert sandbox.shop(platform, case.ref)["refreshes"] == 0


@pytest.mark.parametrize(("status", "body", "expected", "code"), [
    (200, {"code": 401, "i18nCode": "APP_NOT_INSTALLED"}, ReauthRequired, "APP_NOT_INSTALLED"),
    (500, {"code": "500", "i18nCode": "error", "message": "error"}, TransientError, "error"),  # the Go SDK's sample
    (200, {"code": 429, "i18nCode": "REQUEST_FREQUENTLY"}, RateLimited, "REQUEST_FREQUENTLY"),
    (400, {"code": "REQUEST_FREQUENTLY", "errors": "slow down"}, RateLimited, "REQUEST_FREQUENTLY"),
    (400, {"code": 400, "i18nCode": "SIGN_INVALID"}, PermanentError, "SIGN_INVALID"),
    (404, {"errors": "Not Found"}, ReauthRequired, "not_found"),
    (502, {}, TransientError, "bad_gateway"),
])
def test_shopline_token_answers(status: int, body: dict[str, Any], expected: type[PlatformError], code: str) -> None:
    verdict = token_rest._shopline_verdict(status, body)
    assert verdict.error is expected and verdict.code == code


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, {"error": "invalid_grant", "error_description": "revoked"}, ReauthRequired),
    (401, {"error": "unauthorized_client"}, ReauthRequired),
    (401, {"error": "invalid_client"}, PermanentError),
    (400, {"error": "unsupported_grant_type"}, PermanentError),
    (401, {"errors": ["[API] Invalid API key or access token"]}, ReauthRequired),
    (403, {"error": "store is not active"}, ConfigError),
    (500, {"errors": ["Internal Server Error"]}, TransientError),
])
def test_shoplazza_token_answers(status: int, body: dict[str, Any], expected: type[PlatformError]) -> None:
    assert token_rest._shoplazza_verdict(status, body).error is expected


# --- secrets ------------------------------------------------------------------------------------------------------

def _sign(case: Case, at_s: int) -> str | None:
    """The sign ``refresh_tokens`` computes at ``at_s`` (Shoplazza signs nothing)."""
    creds = case.credentials()
    if case.platform == "shopee":
        base = shopee.base_string(partner_id=creds["partner_id"], path="/api/v2/auth/access_token/get",
                                  timestamp=at_s)
        return shopee.sign(creds["partner_key"], base)
    if case.platform == "lazada":
        return lazada.signed_params(app_key=creds["app_key"], app_secret=creds["app_secret"], access_token=None,
                                    api_path="/auth/token/refresh", params={"refresh_token": creds["refresh_token"]},
                                    timestamp_ms=at_s * 1000)["sign"]
    if case.platform == "shopline":
        return shopline.sign_body(creds["app_secret"], "", at_s * 1000)
    return None


def test_secrets_never_in_refresh_errors(case: Case, sandbox: SandboxClient, sandbox_url: str,
                                         http_session: requests.Session) -> None:
    _seed(case, sandbox)
    at_s = int(time.time())
    secrets = tuple(s for s in (*case.secrets(), _sign(case, at_s)) if s)
    echo = "echo: " + " | ".join(secrets)
    fault = {"message": echo, **({"code": "error_server"} if case.platform == "shopee" else {}),
             **({"code": "SYSTEM_ERROR"} if case.platform == "lazada" else {}),
             **({"http_status": 500} if case.platform in ("shopline", "shoplazza") else {})}
    sandbox.fault(case.platform, "error", endpoint=ENDPOINT, **fault)
    with pytest.raises(PlatformError) as raised:
        _refresh(case, sandbox_url, http_session, clock=lambda: float(at_s))
    said = _everything_said(raised.value)
    assert "***" in said  # the echoed secrets were scrubbed, not silently dropped
    for secret in secrets:
        assert secret not in said


def test_secrets_never_in_errors_after_a_refresh(rotating: Case, sandbox: SandboxClient, sandbox_url: str,
                                                 http_session: requests.Session) -> None:
    _seed(rotating, sandbox)
    tokens = _refresh(rotating, sandbox_url, http_session)
    new = (tokens.access_token, tokens.refresh_token or "")
    sandbox.fault(rotating.platform, "error", endpoint=ENDPOINT, message="echo: " + " | ".join(new),
                  **({"http_status": 500} if rotating.platform == "shoplazza" else {}))
    with pytest.raises(PlatformError) as raised:
        _refresh(rotating, sandbox_url, http_session, credentials=tokens.apply(rotating.credentials()))
    said = _everything_said(raised.value)
    assert all(token not in said for token in new) and "***" in said


# --- credentials --------------------------------------------------------------------------------------------------


def test_no_stored_refresh_token_needs_reauthorisation_without_a_call(
    rotating: Case, sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    _seed(rotating, sandbox)
    creds = {k: v for k, v in rotating.credentials().items() if k != "refresh_token"}
    with pytest.raises(ReauthRequired) as missing:
        _refresh(rotating, sandbox_url, http_session, credentials=creds)
    assert missing.value.code == "no_refresh_token"
    assert ENDPOINT not in sandbox.stats()["calls"].get(rotating.platform, {})


def test_missing_app_secret_is_a_configuration_error(case: Case, sandbox_url: str,
                                                     http_session: requests.Session) -> None:
    creds = {k: v for k, v in case.credentials().items() if k != case.secret_key}
    with pytest.raises(PermanentError) as missing:
        _refresh(case, sandbox_url, http_session, credentials=creds)
    assert missing.value.code == "invalid_credentials" and case.secret_key in str(missing.value)


def test_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        refresh_tokens("tokopedia", {})


# --- the sandbox's control view -------------------------------------------------------------------------------


def test_shop_view_shows_state_and_no_secret(case: Case, sandbox: SandboxClient, sandbox_url: str,
                                             http_session: requests.Session) -> None:
    _seed(case, sandbox)
    tokens = _refresh(case, sandbox_url, http_session)
    view = sandbox.shop(case.platform, case.ref)
    assert set(view) == {"platform", "ref", "refreshes", "token_expires_at", "refresh_valid"}
    shown = json.dumps(view)
    hidden = [s for s in (*case.secrets(), tokens.access_token, tokens.refresh_token) if s]
    assert all(s not in shown for s in hidden)


# --- SHOPLINE's signature vectors still hold (platforms.md 3.2) ------------------------------------------------


@pytest.mark.parametrize(("secret", "body", "timestamp", "expected"), [
    ("LDLLJJLflja2039203flaflaLLFLE", "", "21c335b3a",
     "cf5edab6b92d740fe54b3ce9e2723788128384a1eb5c2a5d64c9210a31185b86"),
    ("LDLLJJLflja2039203flaflaLLFLE", '{"code":"code"}', "21c335b3a",
     "4c4cf0ac52439d1308b58897f857dcba8545efb6c0e8091fba64b148218d2074"),
    ("shopline_test_app_secret", '{"code":"0_100132_abcdef"}', 1700000000000,
     "f90424dea4169febf11089f8246ca060cfb17298bfb6e5163245da83acace5c0"),
    ("shopline_test_app_secret", "", 1700000000000,
     "fda6761b9458a055d374cf69bed299b4bb7fd4af73a452d820d02931cbf945a7"),
], ids=["sdk-refresh", "sdk-create", "create", "refresh"])
def test_shopline_sign_vectors_still_hold(secret: str, body: str, timestamp: Any, expected: str) -> None:
    assert shopline.sign_body(secret, body, timestamp) == expected


def test_the_sandbox_accepts_the_sign_of_the_refresh_vector_and_no_other(
    sandbox: SandboxClient, sandbox_url: str, http_session: requests.Session,
) -> None:
    """The refresh sign at ``now`` is the vector's formula: tampering one character is refused."""
    case = BY_NAME["shopline"]
    _seed(case, sandbox)
    creds = case.credentials()
    timestamp = str(int(time.time() * 1000))
    sign = shopline.sign_body(creds["app_secret"], "", timestamp)
    headers = {"appkey": creds["app_key"], "timestamp": timestamp, "Host": f"{creds['handle']}.myshopline.com"}
    url = f"{sandbox_url}/admin/oauth/token/refresh"
    tampered = http_session.post(url, headers={**headers, "sign": sign[:-1] + ("0" if sign[-1] != "0" else "1")})
    assert tampered.status_code == 400 and tampered.json()["i18nCode"] == "SIGN_INVALID"
    accepted = http_session.post(url, headers={**headers, "sign": sign})
    assert accepted.status_code == 200 and accepted.json()["code"] == 200 and accepted.headers["traceId"]


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-10-22T08:00:00.123+00:00", 1761120000.123),
    ("2025-10-22T16:00:00+08:00", 1761120000.0),
    ("2025-10-22T08:00:00Z", 1761120000.0),
    ("2025-10-22", 1761091200.0),  # the Go SDK's test sample: a date, read as midnight UTC
    (1761120000123, 1761120000.123),
    ("1761120000", 1761120000.0),
    ("next tuesday", None),
    (None, None),
])
def test_shopline_expire_time(value: Any, expected: float | None) -> None:
    assert token_rest.parse_expire_time(value) == (None if expected is None else pytest.approx(expected))
