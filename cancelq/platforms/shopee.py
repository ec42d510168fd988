"""Shopee Open Platform v2: cancel an order, or accept the buyer's own cancellation request.

The flow (``plan``): for OUT_OF_STOCK without items, ``detail`` reads the order
to build ``item_list`` (Shopee requires it for that reason); ``cancel`` then
calls cancel_order, or handle_buyer_cancellation ACCEPT when the buyer has
already asked (IN_CANCEL). Shopee cancels whole orders: ``item_list`` only
names the out-of-stock items, so items with any other reason are refused.

Shopee documents no answer for a second cancel. A state rejection
(order.error_limit "Can not cancel this order", or the IN_CANCEL status error)
is reconciled with one read: CANCELLED -> AlreadyCancelled; IN_CANCEL -> accept
the buyer's request; still cancellable after a rejected accept -> cancel_order;
anything else -> the original error (check_status=True).

Errors live in the JSON body whatever the HTTP status (Shopee documents none):
``classify`` is the one mapping of (status, code, message, body) to our errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import requests

from .base import (
    CancelRequest,
    OrderState,
    OrderStatus,
    Outcome,
    Preview,
    StepResult,
    StepSpec,
    StepState,
    Throttle,
)
from .errors import (
    AlreadyCancelled,
    AuthExpired,
    PermanentError,
    PlatformError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from .http import HttpClient, Reply, Timeouts, new_session, secrets_of
from .reasons import Reason, UnmappableReason, shopee_reason

PLATFORM = "shopee"
DEFAULT_BASE_URL = "https://partner.shopeemobile.com"
DETAIL_PATH = "/api/v2/order/get_order_detail"
CANCEL_PATH = "/api/v2/order/cancel_order"
BUYER_CANCEL_PATH = "/api/v2/order/handle_buyer_cancellation"
DETAIL_FIELDS = "item_list,cancel_by,cancel_reason,buyer_cancel_reason"
QUOTA_TZ = timezone(timedelta(hours=8))
"""Shopee's daily API quota resets at 00:00 UTC+8."""

CANCELLABLE_STATUSES = frozenset({"UNPAID", "READY_TO_SHIP", "PROCESSED", "RETRY_SHIP", "PENDING"})


def order_state(raw_status: str) -> OrderState:
    """Fold a Shopee order_status; unknown statuses (INVOICE_PENDING, new ones) are never written to."""
    if raw_status == "CANCELLED":
        return OrderState.CANCELLED
    if raw_status == "IN_CANCEL":
        return OrderState.IN_CANCEL
    if raw_status in CANCELLABLE_STATUSES:
        return OrderState.CANCELLABLE
    return OrderState.NOT_CANCELLABLE


# --- signing ---------------------------------------------------------------------------------------------


def base_string(
    *, partner_id: int, path: str, timestamp: int, access_token: str = "", shop_id: int | None = None
) -> str:
    """The string Shopee signs: Shop API with ``access_token`` and ``shop_id``, Public API without."""
    tail = f"{access_token}{shop_id}" if shop_id is not None else ""
    return f"{partner_id}{path}{timestamp}{tail}"


def sign(partner_key: str, base: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``base`` keyed with the partner_key string as given (not hex-decoded)."""
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


# --- classification --------------------------------------------------------------------------------------

STATE_CONFLICT_NAMES = frozenset({"cancel_order_invalid_status", "order_status_invalid"})
AUTH_EXPIRED_NAMES = frozenset({"invalid_acceess_token", "invalid_access_token"})  # sic: Shopee's own typo
REAUTH_NAMES = frozenset({
    "refresh_token_expired", "shop_access_expired", "error_shop_refresh_token", "shop_no_linked",
    "partner_shop_no_link",
})
PERMANENT_NAMES = frozenset({
    "error_sign", "error_param", "error_not_found", "error_data", "error_shop", "error_permission",
    "error_api_permission", "error_api_call_restricted", "api_suspended", "error_partner_key_expired",
    "shop_banned", "error_kyc_auth", "error_ashop_api_permission", "source_ip_undeclared", "invalid_partner_id",
    "cancel_forder_failed",
})
COMMON_MODULES = frozenset({"", "common"})


def normalise_code(code: str | None) -> str:
    """Shopee's docs print ``"order. error_param"`` and ``"common.error_auth"``: strip spaces, keep the module."""
    return "".join((code or "").split()).lower()


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next 00:00 in UTC+8, in UTC."""
    local = (now or datetime.now(UTC)).astimezone(QUOTA_TZ)
    midnight = datetime(local.year, local.month, local.day, tzinfo=QUOTA_TZ) + timedelta(days=1)
    return midnight.astimezone(UTC)


def classify(
    *,
    http_status: int,
    code: str | None,
    message: str,
    body: Mapping[str, Any] | None = None,
    step: str | None = None,
    retry_after_s: float | None = None,
    now: datetime | None = None,
) -> PlatformError:
    """The one mapping of a Shopee error answer to our error classes (platforms.md 1.3-1.5)."""
    norm = normalise_code(code)
    module, _, name = norm.rpartition(".")
    rid = body.get("request_id") if body else None
    kw: dict[str, Any] = {
        "platform": PLATFORM, "step": step, "http_status": http_status, "code": norm or None,
        "request_id": str(rid) if rid else None,
    }
    text = message or norm or f"HTTP {http_status}"
    if name in STATE_CONFLICT_NAMES or (name == "error_limit" and module not in COMMON_MODULES):
        return PermanentError(text, check_status=True, **kw)
    if name == "error_limit":
        return QuotaExhausted(text, retry_at=next_quota_reset(now), **kw)
    if name == "error_rate_limit":
        return RateLimited(text, retry_after_s=retry_after_s, **kw)
    if name in ("error_server", "error_network"):
        return TransientError(text, check_status=True, **kw)
    if name == "error_auth":
        return _auth_error(text, kw)
    if name in AUTH_EXPIRED_NAMES:
        return AuthExpired(text, **kw)
    if name in REAUTH_NAMES:
        return ReauthRequired(text, **kw)
    if name == "error_param":
        return PermanentError(text, check_status="status" in text.casefold(), **kw)
    if name in PERMANENT_NAMES:
        return PermanentError(text, **kw)
    return _unknown(text, http_status, retry_after_s, kw)


def _auth_error(message: str, kw: dict[str, Any]) -> PlatformError:
    # One code, four meanings: only the message tells a gateway hiccup from a dead token or an unlinked shop.
    text = message.casefold()
    if "system error" in text:
        return TransientError(message, **kw)
    if "partner_id or shopid" in text:
        return ReauthRequired(message, **kw)
    if "access_token" in text or "access token" in text:
        return AuthExpired(message, **kw)
    return PermanentError(message, **kw)


def _unknown(message: str, http_status: int, retry_after_s: float | None, kw: dict[str, Any]) -> PlatformError:
    if http_status == 429:
        return RateLimited(message, retry_after_s=retry_after_s, **kw)
    if http_status >= 500 or http_status == 408:
        return TransientError(message, check_status=True, **kw)
    return PermanentError(message, **kw)


def _retry_after_s(reply: Reply) -> float | None:
    try:
        return float(reply.headers.get("Retry-After", ""))
    except ValueError:
        return None


# --- the adapter -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopeeCredentials:
    """One shop's authorisation for one partner app; the secrets stay out of the repr."""

    partner_id: int
    shop_id: int
    partner_key: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    """Optional: only ``tokens.refresh_tokens`` uses it; kept here so that no answer can echo it."""

    @classmethod
    def from_mapping(cls, credentials: Mapping[str, Any]) -> ShopeeCredentials:
        try:
            return cls(
                partner_id=int(credentials["partner_id"]), shop_id=int(credentials["shop_id"]),
                partner_key=str(credentials["partner_key"]), access_token=str(credentials["access_token"]),
                refresh_token=str(credentials.get("refresh_token") or ""),
            )
        except KeyError as exc:
            problem = f"{exc.args[0]} is missing"
        except (TypeError, ValueError):
            problem = "partner_id and shop_id must be integers"
        raise PermanentError(
            f"Shopee credentials need partner_id, partner_key, shop_id and access_token: {problem}",
            platform=PLATFORM, step="credentials", code="invalid_credentials",
        )


class ShopeeAdapter:
    """Cancels Shopee orders through Open Platform v2, signing every call with the shop's token."""

    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        *,
        credentials: ShopeeCredentials,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.clock = clock
        self.http = HttpClient(
            platform=PLATFORM, session=session or new_session(), timeouts=timeouts or Timeouts(),
            throttle=throttle,
            secrets=secrets_of([credentials.partner_key, credentials.access_token, credentials.refresh_token]),
        )

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any],
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
    ) -> ShopeeAdapter:
        return cls(
            credentials=ShopeeCredentials.from_mapping(credentials), base_url=base_url, session=session,
            throttle=throttle, timeouts=timeouts,
        )

    def __repr__(self) -> str:
        return f"ShopeeAdapter({self.credentials!r}, base_url={self.base_url!r})"

    # --- the protocol ---

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        cancel = StepSpec("cancel", "cancel_order", True)
        if request.reason is Reason.OUT_OF_STOCK and not request.items:
            return [StepSpec("detail", "get_order_detail", False), cancel]
        return [cancel]

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        if step == "detail":
            return self._detail_step(request)
        if step == "cancel":
            return self._cancel_step(request, state.get("detail") or {})
        raise ValueError(f"Shopee has no step {step!r}")

    def read_status(self, request: CancelRequest) -> OrderStatus:
        order, rid = self._read_order(request, step="read_status")
        raw = str(order.get("order_status", ""))
        detail = {k: order[k] for k in ("cancel_by", "cancel_reason", "buyer_cancel_reason") if order.get(k)}
        return OrderStatus(state=order_state(raw), raw_status=raw, request_id=rid, detail=detail)

    def preview(self, request: CancelRequest) -> Preview:
        order, rid = self._read_order(request, step="preview")
        raw = str(order.get("order_status", ""))
        state = order_state(raw)
        effects: tuple[str, ...] = ()
        if state is OrderState.IN_CANCEL:
            effects = ("handle_buyer_cancellation ACCEPT: the buyer's own cancellation request is accepted",)
        elif state is OrderState.CANCELLABLE:
            effects = self._cancel_effects(self._cancel_payload(request, order, step="preview"))
        return Preview(state=state, raw_status=raw, side_effects=effects, request_id=rid)

    # --- steps ---

    def _detail_step(self, request: CancelRequest) -> StepResult:
        order, rid = self._read_order(request, step="detail")
        data = {"order_status": str(order.get("order_status", "")), "item_list": _item_keys(order.get("item_list"))}
        return StepResult(data=data, request_id=rid)

    def _cancel_step(self, request: CancelRequest, detail: Mapping[str, Any]) -> StepResult:
        raw = str(detail.get("order_status", ""))
        if raw == "CANCELLED":
            return StepResult(data={"order_status": raw}, outcome=Outcome.ALREADY_CANCELLED)
        if raw == "IN_CANCEL":
            return self._accept(request, reconcile=True)
        if raw and order_state(raw) is OrderState.NOT_CANCELLABLE:
            raise PermanentError(
                f"order is {raw}: Shopee cancels only before shipping", platform=PLATFORM, step="cancel",
                code="not_cancellable",
            )
        return self._cancel(request, detail, reconcile=True)

    def _cancel(self, request: CancelRequest, order: Mapping[str, Any], *, reconcile: bool) -> StepResult:
        payload = self._cancel_payload(request, order, step="cancel")
        try:
            response, rid = self._call("POST", CANCEL_PATH, step="cancel", api="cancel_order", payload=payload)
        except PermanentError as exc:
            if not (reconcile and exc.check_status):
                raise
            return self._after_rejection(request, exc, tried="cancel_order")
        data = {"operation": "cancel_order", "cancel_reason": payload["cancel_reason"],
                "update_time": response.get("update_time")}
        return StepResult(data=data, request_id=rid)

    def _accept(self, request: CancelRequest, *, reconcile: bool) -> StepResult:
        payload = {"order_sn": request.order_id, "operation": "ACCEPT"}
        try:
            response, rid = self._call(
                "POST", BUYER_CANCEL_PATH, step="cancel", api="handle_buyer_cancellation", payload=payload
            )
        except PermanentError as exc:
            if not (reconcile and exc.check_status):
                raise
            return self._after_rejection(request, exc, tried="handle_buyer_cancellation")
        data = {"operation": "handle_buyer_cancellation", "order_status": response.get("order_status")}
        return StepResult(data=data, request_id=rid)

    def _after_rejection(self, request: CancelRequest, exc: PermanentError, *, tried: str) -> StepResult:
        """A write refused on the order's state: read it once and take the one write that fits, if any.

        When that read fails for a passing reason, the refusal cannot be judged (the order may be
        IN_CANCEL, which the other write takes), so the read's error is raised: the job retries.
        """
        try:
            order, rid = self._read_order(request, step="cancel")
        except PermanentError:
            raise exc from None
        raw = str(order.get("order_status", ""))
        if raw == "CANCELLED":
            raise AlreadyCancelled(
                f"{tried} refused ({exc.code}): the order is already CANCELLED (cancel_by "
                f"{order.get('cancel_by')!r}; read request_id {rid})",
                platform=PLATFORM, step="cancel", http_status=exc.http_status, code=exc.code,
                request_id=exc.request_id,
            )
        if raw == "IN_CANCEL" and tried != "handle_buyer_cancellation":
            return self._accept(request, reconcile=False)
        if order_state(raw) is OrderState.CANCELLABLE and tried != "cancel_order":
            return self._cancel(request, order, reconcile=False)
        raise exc

    # --- request building ---

    def _cancel_payload(self, request: CancelRequest, order: Mapping[str, Any], *, step: str) -> dict[str, Any]:
        try:
            reason = shopee_reason(request.reason)
        except UnmappableReason as exc:
            raise PermanentError(str(exc), platform=PLATFORM, step=step, code="unmappable_reason") from None
        payload: dict[str, Any] = {"order_sn": request.order_id, "cancel_reason": reason}
        if request.reason is not Reason.OUT_OF_STOCK:
            if request.items:
                raise PermanentError(
                    "Shopee cancels whole orders: items may only name the out-of-stock items of an OUT_OF_STOCK "
                    "cancel", platform=PLATFORM, step=step, code="items_unsupported",
                )
            return payload
        items = _item_keys(request.items, step=step) or _item_keys(order.get("item_list"), step=step)
        if not items:
            raise PermanentError(
                "OUT_OF_STOCK needs item_list and the order lists no items", platform=PLATFORM, step=step,
                code="missing_items",
            )
        payload["item_list"] = items
        return payload

    @staticmethod
    def _cancel_effects(payload: Mapping[str, Any]) -> tuple[str, ...]:
        effects = [f"cancel_order {payload['cancel_reason']}: the whole order is cancelled by the seller",
                   "a seller cancellation counts towards the shop's non-fulfilment rate"]
        if payload.get("item_list"):
            named = ", ".join(f"{i['item_id']}/{i['model_id']}" for i in payload["item_list"])
            effects.append(f"items reported out of stock (item_id/model_id): {named}")
        return tuple(effects)

    # --- HTTP ---

    def _read_order(self, request: CancelRequest, *, step: str) -> tuple[Mapping[str, Any], str | None]:
        params = {"order_sn_list": request.order_id, "response_optional_fields": DETAIL_FIELDS}
        response, rid = self._call("GET", DETAIL_PATH, step=step, api="get_order_detail", params=params)
        for order in response.get("order_list") or ():
            if isinstance(order, Mapping) and order.get("order_sn") == request.order_id:
                return order, rid
        raise PermanentError(
            f"Shopee does not know order {request.order_id} in this shop", platform=PLATFORM, step=step,
            code="order_not_found", request_id=rid,
        )

    def _common(self, path: str) -> dict[str, Any]:
        creds = self.credentials
        timestamp = int(self.clock())
        base = base_string(partner_id=creds.partner_id, path=path, timestamp=timestamp,
                           access_token=creds.access_token, shop_id=creds.shop_id)
        return {"partner_id": creds.partner_id, "timestamp": timestamp, "access_token": creds.access_token,
                "shop_id": creds.shop_id, "sign": sign(creds.partner_key, base)}

    def _call(
        self,
        method: str,
        path: str,
        *,
        step: str,
        api: str,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[Mapping[str, Any], str | None]:
        """One signed call (a fresh timestamp each time); the ``response`` object and the request_id."""
        query = {**self._common(path), **(params or {})}
        body = None if payload is None else json.dumps(payload, separators=(",", ":"))
        headers = None if body is None else {"Content-Type": "application/json"}
        reply = self.http.request(
            method, f"{self.base_url}{path}", step=step, api=api, params=query, body=body, headers=headers
        )
        return self._read(reply, step=step)

    def _read(self, reply: Reply, *, step: str) -> tuple[Mapping[str, Any], str | None]:
        body = reply.body
        if not isinstance(body, dict):
            raise self.http.unparsed(reply, step=step)
        rid = str(body["request_id"]) if body.get("request_id") else None
        code = str(body.get("error") or "")
        if code or not 200 <= reply.status < 300:
            raise classify(
                http_status=reply.status, code=code, message=self.http.scrub(str(body.get("message") or "")),
                body=body, step=step, retry_after_s=_retry_after_s(reply),
            )
        response = body.get("response")
        return (response if isinstance(response, dict) else {}), rid


def _item_keys(items: Iterable[Any] | None, *, step: str = "detail") -> list[dict[str, int]]:
    """``[{item_id, model_id}]`` from request items or a detail's item_list, in order, without repeats."""
    keys: list[dict[str, int]] = []
    for item in items or ():
        try:
            key = {"item_id": int(item["item_id"]), "model_id": int(item.get("model_id") or 0)}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PermanentError(
                f"an item must be {{item_id, model_id}} with integer ids, got {item!r}"[:200],
                platform=PLATFORM, step=step, code="invalid_items",
            ) from None
        if key not in keys:
            keys.append(key)
    return keys
