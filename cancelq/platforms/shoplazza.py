"""Shoplazza (``{shop}.myshoplaza.com``): cancel an order through the OpenAPI.

One write step: ``POST /openapi/{version}/orders/{id}/cancel`` with ``{"reason": text}``
and the ``Access-Token`` header (no request signing). Shoplazza documents no
idempotency; a second cancel most likely answers 406 ("cannot produce a response
that matches..."), so a 406 carries ``check_status`` and the orchestrator
reconciles with ``read_status`` (``GET /openapi/{version}/orders/{id}``).

Two body generations are read:
- 2022-01: ``{"order": {...}}``; errors ``{"errors": [...]}`` or ``{"error": "..."}``;
- 2025-06 and later: the envelope ``{"code": "success", "message", "data": order}``;
  errors ``{"code": "InvalidParameter", "message"}``.

Reading of the order status (``order_state``), where platforms.md 4.1 is uncertain:
``status == "cancelled"`` -> CANCELLED; ``status == "finished"`` or a fulfillment of
``shipped``/``finished``/``returning``/``returned`` -> NOT_CANCELLABLE. The doc's
own sample is a cancelled order with ``partially_shipped``, so partial fulfilments
(``partially_shipped``, ``partially_finished``) stay CANCELLABLE and the platform
has the last word (its 406 is then reconciled like any other).

The request id is read from an ``X-Request-Id`` header when there is one; Shoplazza
documents none [UNVERIFIED].
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import requests

from . import rest_status
from .base import CancelRequest, OrderState, OrderStatus, Preview, StepResult, StepSpec, StepState, Throttle
from .errors import AuthExpired, PermanentError, RateLimited, TransientError
from .http import HttpClient, Reply, Timeouts, new_session, secrets_of
from .reasons import UnmappableReason, text_reason
from .rest_status import Verdict

DEFAULT_API_VERSION = "2022-01"
CANCEL = StepSpec("cancel", "cancel_order", True)
SHOP_DOMAIN = ".myshoplaza.com"
SHIPPED_FULFILLMENTS = frozenset({"shipped", "finished", "returning", "returned"})
REQUEST_ID_HEADER = "X-Request-Id"

_SHOP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VERSION = re.compile(r"^\d{4}-\d{2}$")
_PERMANENT: Mapping[int, str] = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 422: "unprocessable_entity",
}


def oauth_hmac(client_secret: str, params: Mapping[str, str]) -> str:
    """The OAuth callback ``hmac``: lowercase-hex HMAC-SHA256 of the query without ``hmac``, keys sorted,
    url-encoded as Go's ``url.Values.Encode`` does (the official oauth-sdk-go's ``SignatureValid``)."""
    query = urlencode(sorted((k, v) for k, v in params.items() if k != "hmac"))
    return hmac.new(client_secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def verify_oauth_hmac(client_secret: str, params: Mapping[str, str]) -> bool:
    """Whether an OAuth callback's query carries a valid ``hmac``."""
    return hmac.compare_digest(oauth_hmac(client_secret, params), str(params.get("hmac", "")))


def classify(http_status: int, code: str | None, message: str, body: Any = None, *, writes: bool = False) -> Verdict:
    """Shoplazza's answer -> error class, by HTTP status, and by message for a store that is not active."""
    if "store is not active" in message.casefold():
        return Verdict(PermanentError, "store_not_active")
    if http_status == 401:
        return Verdict(AuthExpired, code or "unauthorized")
    if http_status == 406:
        # "e.g. refund an order which is not in after-sale status": the likeliest answer to a second cancel.
        return Verdict(PermanentError, code or "not_acceptable", check_status=True)
    if http_status == 429:
        return Verdict(RateLimited, code or "rate_limited")
    if http_status in _PERMANENT:
        return Verdict(PermanentError, code or _PERMANENT[http_status])
    if http_status >= 500:
        return Verdict(TransientError, code or rest_status.status_name(http_status), check_status=writes)
    if 400 <= http_status < 500:
        return Verdict(PermanentError, code or rest_status.status_name(http_status))
    if 200 <= http_status < 300:
        # A 2025-06 envelope whose code is not "success": refused, but it may be a state conflict.
        return Verdict(PermanentError, code or "unsuccessful", check_status=writes)
    return Verdict(TransientError, rest_status.status_name(http_status), check_status=writes)


def order_state(order: Mapping[str, Any]) -> OrderState:
    """A Shoplazza order folded into what matters for a cancel (see the module docstring)."""
    status = str(order.get("status") or "").casefold()
    if status == "cancelled":
        return OrderState.CANCELLED
    if status == "finished" or str(order.get("fulfillment_status") or "").casefold() in SHIPPED_FULFILLMENTS:
        return OrderState.NOT_CANCELLABLE
    return OrderState.CANCELLABLE


def raw_status(order: Mapping[str, Any]) -> str:
    status = str(order.get("status") or "unknown")
    fulfillment = order.get("fulfillment_status")
    return f"{status}/{fulfillment}" if fulfillment else status


def unwrap_order(body: Any) -> Mapping[str, Any] | None:
    """The order in a 2022-01 ``{"order": ...}`` body or a 2025-06 success envelope; None otherwise."""
    if not isinstance(body, Mapping):
        return None
    if isinstance(body.get("order"), Mapping):
        return body["order"]  # type: ignore[no-any-return]
    data = body.get("data")
    if body.get("code") != "success" or not isinstance(data, Mapping):
        return None
    return data["order"] if isinstance(data.get("order"), Mapping) else data


def is_failed_envelope(body: Any) -> bool:
    return isinstance(body, Mapping) and "code" in body and body.get("code") != "success" and "order" not in body


@dataclass(frozen=True)
class ShoplazzaCredentials:
    """A store's credentials; the secrets stay out of the repr."""

    shop: str
    access_token: str = field(repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    api_version: str = DEFAULT_API_VERSION
    refresh_token: str = field(default="", repr=False)
    """Optional: only ``tokens.refresh_tokens`` uses it; kept here so that no answer can echo it."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ShoplazzaCredentials:
        shop = str(values.get("shop") or "").removesuffix(SHOP_DOMAIN)
        token = str(values.get("access_token") or "")
        version = str(values.get("api_version") or DEFAULT_API_VERSION)
        if not _SHOP.match(shop):
            raise ValueError(f"shoplazza credentials need the shop subdomain (demo.myshoplaza.com: demo), got {shop!r}")
        if not token:
            raise ValueError("shoplazza credentials need an access_token")
        if not _VERSION.match(version):
            raise ValueError(f"shoplazza api_version {version!r} is not a version name such as 2022-01")
        return cls(shop, token, str(values.get("client_id") or ""), str(values.get("client_secret") or ""), version,
                   refresh_token=str(values.get("refresh_token") or ""))

    @property
    def host(self) -> str:
        return f"{self.shop}{SHOP_DOMAIN}"


class ShoplazzaAdapter:
    """The Shoplazza cancel flow; build it with ``from_credentials``."""

    name: ClassVar[str] = "shoplazza"

    def __init__(self, *, credentials: ShoplazzaCredentials, http: HttpClient, base_url: str | None = None) -> None:
        self.credentials = credentials
        self.http = http
        root = base_url.rstrip("/") if base_url else f"https://{credentials.host}"
        self._api_root = f"{root}/openapi/{credentials.api_version}"
        # The sandbox (any base_url) tells stores apart by the Host header, as the real edge does.
        self._host_header = {"Host": credentials.host} if base_url else {}

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any],
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
    ) -> ShoplazzaAdapter:
        creds = ShoplazzaCredentials.from_mapping(credentials)
        http = HttpClient(
            platform=cls.name, session=session or new_session(), timeouts=timeouts or Timeouts(),
            throttle=throttle, secrets=secrets_of((creds.access_token, creds.client_secret, creds.refresh_token)),
        )
        return cls(credentials=creds, http=http, base_url=base_url)

    def __repr__(self) -> str:
        return f"ShoplazzaAdapter(shop={self.credentials.shop!r}, api_version={self.credentials.api_version!r})"

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        return [CANCEL]

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        if step != CANCEL.name:
            raise PermanentError(f"no step {step!r} in the Shoplazza flow", platform=self.name, step=step,
                                 code="unknown_step")
        return self._cancel(request)

    def read_status(self, request: CancelRequest) -> OrderStatus:
        reply = self._send("GET", f"/orders/{_quote(request.order_id)}", step="read_status", api="get_order")
        order = self._order(reply, step="read_status", writes=False)
        detail = {k: order.get(k) for k in ("status", "financial_status", "fulfillment_status", "canceled_at")}
        return OrderStatus(order_state(order), raw_status(order), _request_id(reply), detail)

    def preview(self, request: CancelRequest) -> Preview:
        _reason(request, step="preview")
        status = self.read_status(request)
        return Preview(status.state, status.raw_status, (), status.request_id)

    def _cancel(self, request: CancelRequest) -> StepResult:
        payload = json.dumps({"reason": _reason(request, step=CANCEL.name)}, separators=(",", ":"), ensure_ascii=False)
        reply = self._send(
            "POST", f"/orders/{_quote(request.order_id)}/cancel", step=CANCEL.name, api=CANCEL.api,
            body=payload.encode(),
        )
        order = self._order(reply, step=CANCEL.name, writes=True)
        if order_state(order) is not OrderState.CANCELLED:
            raise TransientError(
                f"the cancel was answered with an order in status {raw_status(order)}", platform=self.name,
                step=CANCEL.name, http_status=reply.status, code="not_cancelled", request_id=_request_id(reply),
                check_status=True,
            )
        data = {"status": order.get("status"), "canceled_at": order.get("canceled_at")}
        return StepResult(data=data, request_id=_request_id(reply))

    def _send(self, method: str, path: str, *, step: str, api: str, body: bytes | None = None) -> Reply:
        headers = {"Access-Token": self.credentials.access_token, "Accept": "application/json", **self._host_header}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, f"{self._api_root}{path}", step=step, api=api, body=body, headers=headers)

    def _order(self, reply: Reply, *, step: str, writes: bool) -> Mapping[str, Any]:
        request_id = _request_id(reply)
        if not 200 <= reply.status < 300 or is_failed_envelope(reply.body):
            raise rest_status.reply_error(
                reply, classify=classify, platform=self.name, step=step, writes=writes, request_id=request_id,
                scrub=self.http.scrub,
            )
        if reply.body is None:
            raise self.http.unparsed(reply, step=step, request_id=request_id)
        order = unwrap_order(reply.body)
        if order is None:
            raise TransientError(
                f"answer without an order: {reply.snippet}", platform=self.name, step=step,
                http_status=reply.status, code="unexpected_body", request_id=request_id, check_status=writes,
            )
        return order


def _reason(request: CancelRequest, *, step: str) -> str:
    """The reason text; a partial cancel or an unmappable reason fails here, before any write."""
    if request.items:
        # The endpoint cancels the whole order; cancelling more than was asked is worse than refusing.
        raise PermanentError("Shoplazza cancels whole orders only; items were given", platform="shoplazza",
                             step=step, code="partial_cancel_unsupported")
    try:
        return text_reason(request.reason, request.note)
    except (UnmappableReason, KeyError) as exc:
        raise PermanentError(str(exc), platform="shoplazza", step=step, code="unmappable_reason") from None


def _quote(order_id: str) -> str:
    return quote(str(order_id), safe="")


def _request_id(reply: Reply) -> str | None:
    return reply.headers.get(REQUEST_ID_HEADER) or None
