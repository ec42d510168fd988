"""Token refresh on the two store-hosted platforms, SHOPLINE and Shoplazza (``refresh_tokens`` dispatches here).

Both answer on the store's own host (``{handle}.myshopline.com``,
``{shop}.myshoplaza.com``); with a ``base_url`` the request goes there with that
Host header, as the adapters do.

SHOPLINE token answers are ``{code, i18nCode, message, data}``, ``code`` 200 on
success; a failure's HTTP status is undocumented, so the body's numeric code is
trusted first. ``REQUEST_FREQUENTLY`` (a refresh right after minting) is a rate
limit; 401/403/404 (the app is not, or no longer, authorised for the store, or
the store is gone) need re-authorisation; a bad sign or timestamp (400) is our
configuration or clock: permanent.

Shoplazza speaks OAuth 2.0: ``invalid_grant`` / ``unauthorized_client`` (the
refresh token is spent, expired or revoked) need re-authorisation;
``invalid_client`` and the other request errors are configuration: permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from . import rest_status, shoplazza, shopline
from .errors import AuthExpired, PermanentError, PlatformError, RateLimited, ReauthRequired
from .http import HttpClient, Reply, Timeouts
from .rest_status import Verdict
from .token_common import API, STEP, Clock, TokenSet, bad_answer, client, number, required, text

SHOPLINE_REFRESH_PATH = "/admin/oauth/token/refresh"
SHOPLINE_HOST = "{}.myshopline.com"
SHOPLINE_REAUTH_STATUSES = frozenset({401, 403, 404})
SHOPLAZZA_TOKEN_PATH = "/admin/oauth/token"
SHOPLAZZA_HOST = "{}.myshoplaza.com"
OAUTH_REAUTH = frozenset({"invalid_grant", "unauthorized_client"})
OAUTH_CONFIG = frozenset({"invalid_client", "invalid_request", "unsupported_grant_type", "invalid_scope"})
_MS_EPOCH_FLOOR = 1e11
"""An epoch above this is in milliseconds (1e11 s is the year 5138)."""


# --- SHOPLINE --------------------------------------------------------------------------------------------------


def refresh_shopline(
    credentials: Mapping[str, Any], base_url: str | None, session: requests.Session, timeouts: Timeouts, clock: Clock,
) -> TokenSet:
    creds = required("shopline", credentials, "handle", "app_key", "app_secret")
    host = SHOPLINE_HOST.format(_label("shopline", creds["handle"]))
    now = clock()
    timestamp = str(int(now * 1000))
    sign = shopline.sign_body(creds["app_secret"], "", timestamp)
    http = client("shopline", session, timeouts, (creds["app_secret"], credentials.get("access_token"), sign))
    headers = {"appkey": creds["app_key"], "timestamp": timestamp, "sign": sign,
               "Content-Type": "application/json", "Accept": "application/json"}
    if base_url:
        headers["Host"] = host
    url = f"{base_url or 'https://' + host}{SHOPLINE_REFRESH_PATH}"
    reply = http.request("POST", url, step=STEP, api=API, body=b"", headers=headers)
    trace_id = reply.headers.get("traceId") or None
    ok = 200 <= reply.status < 300
    if ok and not isinstance(reply.body, Mapping):
        raise http.unparsed(reply, step=STEP, request_id=trace_id)
    body: Mapping[str, Any] = reply.body if isinstance(reply.body, Mapping) else {}
    if not (ok and _http_code(body.get("code")) == 200):
        raise _error(http, reply, _shopline_verdict(reply.status, body), rest_status.error_detail(body)[1], trace_id)
    data = body.get("data")
    access = text(data.get("accessToken")) if isinstance(data, Mapping) else None
    if access is None or not isinstance(data, Mapping):
        raise bad_answer("shopline", reply, trace_id, "lacks data.accessToken")
    return TokenSet(access_token=access, refresh_token=None, expires_at=parse_expire_time(data.get("expireTime")))


def _shopline_verdict(http_status: int, body: Mapping[str, Any]) -> Verdict:
    numeric = _http_code(body.get("code"))
    status = numeric or http_status
    name = text(body.get("i18nCode")) or (None if numeric else text(body.get("code")))
    if "FREQUENT" in (name or "").upper() or status == 429:
        return Verdict(RateLimited, name or "rate_limited")
    if status in SHOPLINE_REAUTH_STATUSES:
        return Verdict(ReauthRequired, name or rest_status.status_name(status))
    return shopline.classify(status, name, "", body, writes=True)


def parse_expire_time(value: Any) -> float | None:
    """SHOPLINE's ``expireTime`` as epoch seconds: ISO-8601 (UTC when it names no zone), or epoch ms or s."""
    seconds = number(value)
    if seconds is not None:
        return seconds / 1000 if seconds > _MS_EPOCH_FLOOR else seconds
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _http_code(value: Any) -> int | None:
    """A body ``code`` that is an HTTP-like number (200, "500"), else None."""
    code = number(value)
    return int(code) if code is not None and 100 <= code < 600 else None


# --- Shoplazza -------------------------------------------------------------------------------------------------


def refresh_shoplazza(
    credentials: Mapping[str, Any], base_url: str | None, session: requests.Session, timeouts: Timeouts, clock: Clock,
) -> TokenSet:
    creds = required("shoplazza", credentials, "shop", "client_id", "client_secret", "refresh_token")
    host = SHOPLAZZA_HOST.format(_label("shoplazza", creds["shop"].removesuffix(SHOPLAZZA_HOST.format(""))))
    http = client("shoplazza", session, timeouts,
                  (creds["client_secret"], creds["refresh_token"], credentials.get("access_token")))
    form = {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"], "client_id": creds["client_id"],
            "client_secret": creds["client_secret"]}
    headers = {"Accept": "application/json", **({"Host": host} if base_url else {})}
    now = clock()
    reply = http.request("POST", f"{base_url or 'https://' + host}{SHOPLAZZA_TOKEN_PATH}", step=STEP, api=API,
                         data=form, headers=headers)
    request_id = reply.headers.get(shoplazza.REQUEST_ID_HEADER) or None
    body = reply.body
    ok = 200 <= reply.status < 300
    if ok and not isinstance(body, Mapping):
        raise http.unparsed(reply, step=STEP, request_id=request_id)
    if not ok or "access_token" not in body:
        if ok and not body.get("error"):
            raise bad_answer("shoplazza", reply, request_id, "lacks access_token")
        raise _error(http, reply, _shoplazza_verdict(reply.status, body), _oauth_message(body), request_id)
    access, refresh = text(body.get("access_token")), text(body.get("refresh_token"))
    if access is None or refresh is None:
        raise bad_answer("shoplazza", reply, request_id, "lacks access_token or refresh_token")
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=_expires_at(body, now))


def _shoplazza_verdict(http_status: int, body: Any) -> Verdict:
    error = text(body.get("error")) if isinstance(body, Mapping) else None
    if error in OAUTH_REAUTH:
        return Verdict(ReauthRequired, error or "invalid_grant")
    if error in OAUTH_CONFIG:
        return Verdict(PermanentError, error or "invalid_request")
    code, message = rest_status.error_detail(body)
    verdict = shoplazza.classify(http_status, code, message, body, writes=True)
    return Verdict(ReauthRequired, verdict.code) if verdict.error is AuthExpired else verdict


def _oauth_message(body: Any) -> str:
    if isinstance(body, Mapping) and text(body.get("error_description")):
        return f"{body.get('error')}: {body['error_description']}"
    return rest_status.error_detail(body)[1]


def _expires_at(body: Mapping[str, Any], now: float) -> float | None:
    """Shoplazza answers ``expires_at`` (unix s); a standard OAuth ``expires_in`` is read too."""
    expires_at = number(body.get("expires_at"))
    if expires_at is not None:
        return expires_at / 1000 if expires_at > _MS_EPOCH_FLOOR else expires_at
    expires_in = number(body.get("expires_in"))
    return None if expires_in is None else now + expires_in


# --- shared ----------------------------------------------------------------------------------------------------


def _label(platform: str, name: str) -> str:
    """A store's subdomain label, checked before it becomes a host name."""
    if not name or not name.replace("-", "").isalnum() or name.startswith("-"):
        raise PermanentError(f"{platform} store name {name!r} is not a subdomain label", platform=platform,
                             step=STEP, code="invalid_credentials")
    return name


def _error(http: HttpClient, reply: Reply, verdict: Verdict, message: str, request_id: str | None) -> PlatformError:
    text_ = http.scrub(message or reply.body_error or reply.snippet or rest_status.status_name(reply.status))
    fields: dict[str, Any] = {
        "platform": http.platform, "step": STEP, "http_status": reply.status, "code": verdict.code,
        "request_id": request_id, "check_status": verdict.check_status,
    }
    if issubclass(verdict.error, RateLimited):
        return verdict.error(text_, retry_after_s=rest_status.retry_after_s(reply.headers), **fields)
    return verdict.error(text_, **fields)
