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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from . import rest_status
from .base import CancelRequest, OrderState
from .errors import AuthExpired, ConfigError, PermanentError, RateLimited, TransientError
from .http import Reply
from .reasons import UnmappableReason, text_reason
from .rest import CANCEL, StoreAdapter, raw_status
from .rest_status import Verdict

__all__ = ["CANCEL", "REQUEST_ID_HEADER", "ShoplazzaAdapter", "ShoplazzaCredentials", "classify", "is_failed_envelope",
           "oauth_hmac", "order_state", "raw_status", "unwrap_order", "verify_oauth_hmac"]

DEFAULT_API_VERSION = "2022-01"
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
        return Verdict(ConfigError, "store_not_active", scope="shop")
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
        # An undocumented status is no clean refusal: to a write, it may hide an applied cancel.
        error = TransientError if writes else PermanentError
        return Verdict(error, code or rest_status.status_name(http_status), check_status=writes)
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

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.access_token, self.client_secret, self.refresh_token)


class ShoplazzaAdapter(StoreAdapter[ShoplazzaCredentials]):
    """The Shoplazza cancel flow; build it with ``from_credentials``."""

    name: ClassVar[str] = "shoplazza"
    label: ClassVar[str] = "Shoplazza"
    api_prefix: ClassVar[str] = "/openapi/{version}"
    order_path: ClassVar[str] = "/orders/{id}"
    cancel_path: ClassVar[str] = "/orders/{id}/cancel"
    request_id_header: ClassVar[str] = REQUEST_ID_HEADER
    detail_keys: ClassVar[tuple[str, ...]] = ("status", "financial_status", "fulfillment_status", "canceled_at")
    cancelled_at_key: ClassVar[str] = "canceled_at"

    @classmethod
    def parse_credentials(cls, credentials: Mapping[str, Any]) -> ShoplazzaCredentials:
        return ShoplazzaCredentials.from_mapping(credentials)

    def __repr__(self) -> str:
        return f"ShoplazzaAdapter(shop={self.credentials.shop!r}, api_version={self.credentials.api_version!r})"

    def auth_headers(self) -> dict[str, str]:
        return {"Access-Token": self.credentials.access_token}

    def cancel_payload(self, request: CancelRequest, *, step: str) -> Mapping[str, Any]:
        return {"reason": _reason(request, step=step)}

    def classify(self, http_status: int, code: str | None, message: str, body: Any = None, *,
                 writes: bool = False) -> Verdict:
        return classify(http_status, code, message, body, writes=writes)

    def order_state(self, order: Mapping[str, Any]) -> OrderState:
        return order_state(order)

    def unwrap(self, body: Any) -> Mapping[str, Any] | None:
        return unwrap_order(body)

    def refused(self, reply: Reply) -> bool:
        return not 200 <= reply.status < 300 or is_failed_envelope(reply.body)


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

