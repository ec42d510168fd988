"""SHOPLINE (``{handle}.myshopline.com``): cancel an order through the Admin REST API.

One write step: ``POST /admin/openapi/{version}/orders/{id}/cancel.json`` with a
JSON body (``Authorization: Bearer``; requests are not signed). SHOPLINE
documents no idempotency and no answer for a second cancel; a 422 is the most
likely one, so a 422 carries ``check_status`` and the orchestrator reconciles
with ``read_status`` (``GET .../orders/{id}.json``).

Errors are told by the HTTP status (``classify``); the ``traceId`` response
header is every error's request id. Token refresh (``tokens.refresh_tokens``) is
a signed call: ``sign_body`` and ``sign_query`` are the pure signers.

Reading of the order status (``order_state``):
- ``status`` ``canceled``/``cancelled`` (the field doc and the list filter spell
  it differently) or ``cancelled_at`` set -> CANCELLED;
- ``fulfillment_status`` ``fulfilled``/``shipped``, and also ``partial``, ->
  NOT_CANCELLABLE: SHOPLINE follows Shopify, where an order with fulfillments
  must go through returns; this is our reading, the API does not say;
- otherwise CANCELLABLE.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from . import rest_status
from .base import CancelRequest, OrderState
from .errors import AuthExpired, ConfigError, PermanentError, RateLimited, TransientError
from .reasons import UnmappableReason, text_reason
from .rest import CANCEL, StoreAdapter, raw_status
from .rest_status import Verdict

__all__ = ["CANCEL", "ShoplineAdapter", "ShoplineCredentials", "classify", "order_state", "raw_status",
           "sign_body", "sign_query", "verify_query"]

DEFAULT_API_VERSION = "v20251201"
REFUND_TYPES = ("OriginalPayment Refund", "Manual")
CANCELLED_STATUSES = frozenset({"canceled", "cancelled"})
SHIPPED_FULFILLMENTS = frozenset({"fulfilled", "shipped", "partial"})
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]+$")

# HTTP status page (developer.shopline.com/doc/3cv5d7wpfgr6a8z5/s7gr9jgy9ute6pk7): 433-436 are security
# blocks beyond platforms.md's table; 501 means the API is not open to this store, so retrying cannot help.
_PERMANENT: Mapping[int, str] = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 406: "not_acceptable",
    412: "high_risk_content", 436: "security_policy", 501: "not_implemented",
}
_BLOCKED: Mapping[int, str] = {433: "request_blocked", 435: "cc_protection"}


def sign_body(app_secret: str, body: str, timestamp_ms: int | str) -> str:
    """Token create/refresh sign: lowercase-hex HMAC-SHA256(app_secret, raw JSON body + timestamp in ms).

    ``body`` must be the exact string sent; an empty body signs the timestamp alone.
    """
    message = f"{body}{timestamp_ms}".encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def sign_query(app_secret: str, params: Mapping[str, object]) -> str:
    """GET sign (install request, OAuth callback): the query sorted by key without ``sign``, as ``k=v&k=v``."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
    return hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def verify_query(app_secret: str, params: Mapping[str, object]) -> bool:
    """Whether a GET request from SHOPLINE carries a valid ``sign``."""
    return hmac.compare_digest(sign_query(app_secret, params), str(params.get("sign", "")))


def classify(http_status: int, code: str | None, message: str, body: Any = None, *, writes: bool = False) -> Verdict:
    """SHOPLINE's answer -> error class, by HTTP status (its bodies carry no reliable code)."""
    if http_status == 401:
        return Verdict(AuthExpired, code or "unauthorized")
    if http_status == 422:
        # Undocumented for cancel, but the likeliest answer to "already cancelled": read before deciding.
        return Verdict(PermanentError, code or "unprocessable_entity", check_status=True)
    if http_status == 402:
        # The store is frozen (unpaid plan, suspended): no job of it passes until the merchant acts.
        return Verdict(ConfigError, code or "store_frozen", scope="shop")
    if http_status == 423:
        # The store is locked (API abuse or risk): not a rate limit, nothing passes for a long while.
        return Verdict(TransientError, "store_locked")
    if http_status in (429, 434):
        return Verdict(RateLimited, code or "rate_limited")
    if http_status in _BLOCKED:
        return Verdict(TransientError, _BLOCKED[http_status])
    if http_status in _PERMANENT:
        return Verdict(PermanentError, code or _PERMANENT[http_status])
    if http_status >= 500:
        return Verdict(TransientError, code or rest_status.status_name(http_status), check_status=writes)
    if 400 <= http_status < 500 and not writes:
        return Verdict(PermanentError, code or rest_status.status_name(http_status))
    # An undocumented status is no clean refusal: to a write, it may hide an applied cancel.
    return Verdict(TransientError, code or rest_status.status_name(http_status), check_status=writes)


def order_state(order: Mapping[str, Any]) -> OrderState:
    """A SHOPLINE order folded into what matters for a cancel (see the module docstring)."""
    status = str(order.get("status") or "").casefold()
    if status in CANCELLED_STATUSES or order.get("cancelled_at"):
        return OrderState.CANCELLED
    if str(order.get("fulfillment_status") or "").casefold() in SHIPPED_FULFILLMENTS:
        return OrderState.NOT_CANCELLABLE
    return OrderState.CANCELLABLE


def cancel_body(request: CancelRequest, *, step: str) -> dict[str, Any]:
    """The cancel body from the request; bad options or reasons fail here, before any write."""
    if request.items:
        # The endpoint cancels the whole order; cancelling more than was asked is worse than refusing.
        raise PermanentError("SHOPLINE cancels whole orders only; items were given", platform="shopline", step=step,
                             code="partial_cancel_unsupported")
    try:
        body: dict[str, Any] = {"cancel_reason": text_reason(request.reason, request.note)}
    except (UnmappableReason, KeyError) as exc:
        raise PermanentError(str(exc), platform="shopline", step=step, code="unmappable_reason") from None
    for key, valid in _OPTIONS.items():
        if key in request.options:
            body[key] = _option(request.options, key, step, valid)
    if isinstance(body.get("amount"), str):
        body["amount"] = float(body["amount"])
    return body


def _option(options: Mapping[str, Any], key: str, step: str, valid: Callable[[Any], bool]) -> Any:
    value = options[key]
    if not valid(value):
        raise PermanentError(
            f"option {key}={value!r} is not valid for a SHOPLINE cancel", platform="shopline", step=step,
            code="invalid_option",
        )
    return value


def _is_amount(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(amount) and amount >= 0


def _is_iso8601(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_OPTIONS: Mapping[str, Callable[[Any], bool]] = {
    "restock": lambda v: isinstance(v, bool),
    "email": lambda v: isinstance(v, bool),
    "amount": _is_amount,
    "currency": lambda v: isinstance(v, str) and bool(v),
    "processed_at": _is_iso8601,
    "refund_type": lambda v: v in REFUND_TYPES,
}
"""The cancel body's optional fields, taken from ``request.options`` when present, with their checks."""


def side_effects(request: CancelRequest) -> tuple[str, ...]:
    """What a cancel does besides cancelling, as the preview reports it."""
    effects = []
    if request.options.get("restock"):
        effects.append("restock")
    if request.options.get("email"):
        effects.append("customer emailed")
    return tuple(effects)


@dataclass(frozen=True)
class ShoplineCredentials:
    """A store's credentials; the secrets stay out of the repr."""

    handle: str
    access_token: str = field(repr=False)
    app_key: str = ""
    app_secret: str = field(default="", repr=False)
    api_version: str = DEFAULT_API_VERSION

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ShoplineCredentials:
        handle, token = str(values.get("handle") or ""), str(values.get("access_token") or "")
        version = str(values.get("api_version") or DEFAULT_API_VERSION)
        if not _HANDLE.match(handle):
            raise ValueError(f"shopline credentials need a store handle (the myshopline.com prefix), got {handle!r}")
        if not token:
            raise ValueError("shopline credentials need an access_token")
        if not _VERSION.match(version):
            raise ValueError(f"shopline api_version {version!r} is not a version name such as v20251201")
        return cls(handle, token, str(values.get("app_key") or ""), str(values.get("app_secret") or ""), version)

    @property
    def host(self) -> str:
        return f"{self.handle}.myshopline.com"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.access_token, self.app_secret)


class ShoplineAdapter(StoreAdapter[ShoplineCredentials]):
    """The SHOPLINE cancel flow; build it with ``from_credentials``."""

    name: ClassVar[str] = "shopline"
    label: ClassVar[str] = "SHOPLINE"
    api_prefix: ClassVar[str] = "/admin/openapi/{version}"
    order_path: ClassVar[str] = "/orders/{id}.json"
    cancel_path: ClassVar[str] = "/orders/{id}/cancel.json"
    request_id_header: ClassVar[str] = "traceId"
    content_type: ClassVar[str] = JSON_CONTENT_TYPE
    detail_keys: ClassVar[tuple[str, ...]] = ("status", "financial_status", "fulfillment_status", "cancelled_at")
    cancelled_at_key: ClassVar[str] = "cancelled_at"

    @classmethod
    def parse_credentials(cls, credentials: Mapping[str, Any]) -> ShoplineCredentials:
        return ShoplineCredentials.from_mapping(credentials)

    def __repr__(self) -> str:
        return f"ShoplineAdapter(handle={self.credentials.handle!r}, api_version={self.credentials.api_version!r})"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.access_token}"}

    def cancel_payload(self, request: CancelRequest, *, step: str) -> Mapping[str, Any]:
        return cancel_body(request, step=step)

    def classify(self, http_status: int, code: str | None, message: str, body: Any = None, *,
                 writes: bool = False) -> Verdict:
        return classify(http_status, code, message, body, writes=writes)

    def order_state(self, order: Mapping[str, Any]) -> OrderState:
        return order_state(order)

    def side_effects(self, request: CancelRequest) -> tuple[str, ...]:
        return side_effects(request)
