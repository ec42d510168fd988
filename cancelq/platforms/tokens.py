"""Token refresh for the four platforms: one call, ``refresh_tokens``, answering a ``TokenSet``.

What each platform does (platforms.md 1.3, 2.4, 3.2, 4.2):

- Shopee: ``POST /api/v2/auth/access_token/get``, Public-API sign in the query,
  JSON body ``{refresh_token, partner_id, shop_id}``. The refresh token is
  single-use: every refresh answers a new one, which must be stored (the old one
  is spent). Access tokens live 4 h; refresh tokens 30 days (not in the answer).
- Lazada: ``/rest/auth/token/refresh`` on ``auth.lazada.com``, signed like any
  call but without access_token; answers a new pair with their lifetimes.
- SHOPLINE: ``POST https://{handle}.myshopline.com/admin/oauth/token/refresh``,
  headers appkey / timestamp (ms) / sign over the empty body; there is no
  refresh token (``TokenSet.refresh_token`` is None).
- Shoplazza: ``POST https://{shop}.myshoplaza.com/admin/oauth/token`` with the
  OAuth form ``grant_type=refresh_token``; answers a new pair.

Errors are the platform layer's own (``errors.py``), with ``step="refresh"``.
A refresh the platform refuses for good (refresh token spent, expired or
revoked, shop unlinked or banned) is ``ReauthRequired``: refreshing again cannot
help, the seller must authorise the app again. No refresh error is
``AuthExpired``. ``check_status=True`` on a refresh error means the refresh may
have been applied (an answer lost after sending): with Shopee's single-use
tokens the old refresh token may then be spent. Secrets (keys, old and new
tokens, signs) never reach an error: every one is handed to the HTTP client's
scrubber, and no error quotes a successful answer's body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from . import lazada, shopee
from .errors import AuthExpired, PermanentError, PlatformError, ReauthRequired
from .http import HttpClient, Reply, Timeouts, new_session
from .rest_status import retry_after_s
from .token_common import API, STEP, Clock, TokenSet, bad_answer, client, number, reauth, required, text
from .token_rest import refresh_shoplazza, refresh_shopline

__all__ = ["TokenSet", "refresh_tokens"]

SHOPEE_REFRESH_PATH = "/api/v2/auth/access_token/get"
SHOPEE_REFRESH_TOKEN_LIFETIME_S = 30 * 86400
"""Shopee's documented refresh-token life; its answer does not state it."""
SHOPEE_REAUTH_NAMES = frozenset({
    *shopee.REAUTH_NAMES, "shop_banned", "error_merchant_refresh_token", "merchant_access_expired",
    "merchant_no_linked", "supplier_access_expired", "supplier_no_linked",
})
"""The refresh API's own errors that only the seller can clear (a banned shop included: refreshing cannot help)."""

LAZADA_AUTH_HOST = "https://auth.lazada.com"
LAZADA_REFRESH_PATH = "/auth/token/refresh"


Refresher = Callable[[Mapping[str, Any], str | None, requests.Session, Timeouts, Clock], TokenSet]


def refresh_tokens(
    platform: str,
    credentials: Mapping[str, Any],
    *,
    base_url: str | None = None,
    session: requests.Session | None = None,
    timeouts: Timeouts | None = None,
    clock: Clock = time.time,
) -> TokenSet:
    """Refresh the shop's access token with the platform; ``base_url`` (scheme://host[:port]) replaces its host."""
    try:
        refresher = REFRESHERS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(REFRESHERS)}") from None
    root = base_url.rstrip("/") if base_url else None
    try:
        return refresher(credentials, root, session or new_session(), timeouts or Timeouts(), clock)
    except AuthExpired as exc:
        # A refused refresh is not cured by refreshing: the seller must authorise again.
        raise reauth(exc) from exc


# --- Shopee ----------------------------------------------------------------------------------------------------


def refresh_shopee(
    credentials: Mapping[str, Any], base_url: str | None, session: requests.Session, timeouts: Timeouts, clock: Clock,
) -> TokenSet:
    creds = required("shopee", credentials, "partner_id", "partner_key", "shop_id", "refresh_token")
    try:
        partner_id, shop_id = int(creds["partner_id"]), int(creds["shop_id"])
    except ValueError:
        raise PermanentError("partner_id and shop_id must be integers", platform="shopee", step=STEP,
                             code="invalid_credentials") from None
    now = clock()
    timestamp = int(now)
    sign = shopee.sign(creds["partner_key"],
                       shopee.base_string(partner_id=partner_id, path=SHOPEE_REFRESH_PATH, timestamp=timestamp))
    http = client("shopee", session, timeouts,
                  (creds["partner_key"], creds["refresh_token"], credentials.get("access_token"), sign))
    payload = json.dumps({"refresh_token": creds["refresh_token"], "partner_id": partner_id, "shop_id": shop_id},
                         separators=(",", ":"))
    reply = http.request(
        "POST", f"{base_url or shopee.DEFAULT_BASE_URL}{SHOPEE_REFRESH_PATH}", step=STEP, api=API,
        params={"partner_id": partner_id, "timestamp": timestamp, "sign": sign}, body=payload,
        headers={"Content-Type": "application/json"},
    )
    return _shopee_tokens(http, reply, now)


def _shopee_tokens(http: HttpClient, reply: Reply, now: float) -> TokenSet:
    """The new pair from a refresh answer; its fields sit at the top level, beside ``error``."""
    body = reply.body
    if not isinstance(body, dict):
        raise http.unparsed(reply, step=STEP)
    code = str(body.get("error") or "")
    if code or not 200 <= reply.status < 300:
        raise _shopee_error(reply, body, code, http.scrub)
    access, refresh = text(body.get("access_token")), text(body.get("refresh_token"))
    expire_in = number(body.get("expire_in"))
    if access is None or refresh is None or expire_in is None:
        rid = text(body.get("request_id"))
        raise bad_answer("shopee", reply, rid, "lacks access_token, refresh_token or expire_in")
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=now + expire_in,
                    refresh_expires_at=now + SHOPEE_REFRESH_TOKEN_LIFETIME_S)


def _shopee_error(reply: Reply, body: Mapping[str, Any], code: str, scrub: Callable[[str], str]) -> PlatformError:
    error = shopee.classify(
        http_status=reply.status, code=code, message=scrub(str(body.get("message") or "")), body=body, step=STEP,
        retry_after_s=retry_after_s(reply.headers),
    )
    if shopee.normalise_code(code).rpartition(".")[2] in SHOPEE_REAUTH_NAMES and not isinstance(error, ReauthRequired):
        return reauth(error)
    return error


# --- Lazada ----------------------------------------------------------------------------------------------------


def refresh_lazada(
    credentials: Mapping[str, Any], base_url: str | None, session: requests.Session, timeouts: Timeouts, clock: Clock,
) -> TokenSet:
    creds = required("lazada", credentials, "app_key", "app_secret", "refresh_token")
    now = clock()
    signed = lazada.signed_params(
        app_key=creds["app_key"], app_secret=creds["app_secret"], access_token=None, api_path=LAZADA_REFRESH_PATH,
        params={"refresh_token": creds["refresh_token"]}, timestamp_ms=int(now * 1000),
    )
    http = client("lazada", session, timeouts,
                  (creds["app_secret"], creds["refresh_token"], credentials.get("access_token"), signed["sign"]))
    url = f"{base_url or LAZADA_AUTH_HOST}{lazada.GATEWAY_PREFIX}{LAZADA_REFRESH_PATH}"
    reply = http.request("POST", url, step=STEP, api=API, data=signed)
    body = reply.body
    if not isinstance(body, dict) or "code" not in body:
        raise http.unparsed(reply, step=STEP)
    if str(body["code"]) != "0" or reply.status >= 400:
        raise lazada.classify(reply.status, body, step=STEP, write=True, scrub=http.scrub)
    access, refresh = text(body.get("access_token")), text(body.get("refresh_token"))
    expires_in, refresh_expires_in = number(body.get("expires_in")), number(body.get("refresh_expires_in"))
    if access is None or refresh is None or expires_in is None:
        rid = text(body.get("request_id"))
        raise bad_answer("lazada", reply, rid, "lacks access_token, refresh_token or expires_in")
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=now + expires_in,
                    refresh_expires_at=None if refresh_expires_in is None else now + refresh_expires_in)


REFRESHERS: dict[str, Refresher] = {
    "shopee": refresh_shopee,
    "lazada": refresh_lazada,
    "shopline": refresh_shopline,
    "shoplazza": refresh_shoplazza,
}
