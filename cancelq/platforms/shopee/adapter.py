"""The Shopee adapter: cancel an order, or accept the buyer's own cancellation request.

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

An accept job (``CancelRequest.accepting``) runs ``detail`` then ``accept``: handle_buyer_cancellation
ACCEPT on an IN_CANCEL order, never cancel_order. CANCELLED -> already cancelled; any other status -> the
request is no longer pending (the seller rejected it, the buyer withdrew it): ``no_buyer_request``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..base import CancelRequest, OrderState, OrderStatus, Outcome, Preview, StepResult, StepSpec, StepState
from ..errors import AlreadyCancelled, PermanentError
from ..http import HttpClient, Reply
from ..reasons import Reason, UnmappableReason, shopee_reason
from ..wiring import Adapter
from .classify import PLATFORM, classify, retry_after_header
from .signing import base_string, sign

DEFAULT_BASE_URL = "https://partner.shopeemobile.com"
DETAIL_PATH = "/api/v2/order/get_order_detail"
CANCEL_PATH = "/api/v2/order/cancel_order"
BUYER_CANCEL_PATH = "/api/v2/order/handle_buyer_cancellation"
DETAIL_FIELDS = "item_list,cancel_by,cancel_reason,buyer_cancel_reason"

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

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.partner_key, self.access_token, self.refresh_token)


class ShopeeAdapter(Adapter[ShopeeCredentials]):
    """Cancels Shopee orders through Open Platform v2, signing every call with the shop's token."""

    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        *,
        credentials: ShopeeCredentials,
        http: HttpClient,
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(credentials=credentials, http=http)
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.clock = clock

    @classmethod
    def parse_credentials(cls, credentials: Mapping[str, Any]) -> ShopeeCredentials:
        return ShopeeCredentials.from_mapping(credentials)

    def __repr__(self) -> str:
        return f"ShopeeAdapter({self.credentials!r}, base_url={self.base_url!r})"

    # --- the protocol ---

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        if request.accepting:
            return [StepSpec("detail", "get_order_detail", False),
                    StepSpec("accept", "handle_buyer_cancellation", True)]
        cancel = StepSpec("cancel", "cancel_order", True)
        if request.reason is Reason.OUT_OF_STOCK and not request.items:
            return [StepSpec("detail", "get_order_detail", False), cancel]
        return [cancel]

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        if step == "detail":
            return self._detail_step(request)
        if step == "cancel":
            return self._cancel_step(request, state.get("detail") or {})
        if step == "accept":
            return self._accept_step(request, state.get("detail") or {})
        raise ValueError(f"Shopee has no step {step!r}")

    def read_status(self, request: CancelRequest) -> OrderStatus:
        order, rid = self._read_order(request, step="read_status")
        raw = str(order.get("order_status", ""))
        detail = {k: order[k] for k in ("cancel_by", "cancel_reason", "buyer_cancel_reason") if order.get(k)}
        state = order_state(raw)
        cancelled = state is OrderState.CANCELLED
        by = str(order.get("cancel_by") or "").lower() or None
        at = order.get("update_time") if cancelled and isinstance(order.get("update_time"), int | float) else None
        return OrderStatus(state=state, raw_status=raw, request_id=rid, detail=detail,
                           cancelled_by=by if cancelled else None, cancelled_at=float(at) if at else None)

    def preview(self, request: CancelRequest) -> Preview:
        order, rid = self._read_order(request, step="preview")
        raw = str(order.get("order_status", ""))
        state = order_state(raw)
        effects: tuple[str, ...] = ()
        if request.accepting and state not in (OrderState.IN_CANCEL, OrderState.CANCELLED):
            return Preview(state=OrderState.NOT_CANCELLABLE, raw_status=raw, request_id=rid,
                           side_effects=(f"no buyer cancellation request is pending (the order is {raw})",))
        if state is OrderState.IN_CANCEL:
            effects = ("handle_buyer_cancellation ACCEPT: the buyer's own cancellation request is accepted",)
        elif state is OrderState.CANCELLABLE:
            effects = _cancel_effects(self._cancel_payload(request, order, step="preview"))
        return Preview(state=state, raw_status=raw, side_effects=effects, request_id=rid)

    # --- steps ---

    def _detail_step(self, request: CancelRequest) -> StepResult:
        order, rid = self._read_order(request, step="detail")
        data = {"order_status": str(order.get("order_status", "")), "item_list": item_keys(order.get("item_list"))}
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

    def _accept_step(self, request: CancelRequest, detail: Mapping[str, Any]) -> StepResult:
        raw = str(detail.get("order_status", ""))
        if raw == "CANCELLED":
            return StepResult(data={"order_status": raw}, outcome=Outcome.ALREADY_CANCELLED)
        if raw != "IN_CANCEL":
            raise no_buyer_request(request.order_id, raw)
        return self._accept(request, reconcile=True)

    def _cancel(self, request: CancelRequest, order: Mapping[str, Any], *, reconcile: bool) -> StepResult:
        payload = self._cancel_payload(request, order, step="cancel")
        try:
            response, rid = self._write(CANCEL_PATH, api="cancel_order", payload=payload)
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
            response, rid = self._write(BUYER_CANCEL_PATH, api="handle_buyer_cancellation", payload=payload,
                                        step="accept" if request.accepting else "cancel")
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
        if request.accepting:
            if raw != "IN_CANCEL":
                raise no_buyer_request(request.order_id, raw, request_id=rid) from None
            raise exc
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
        items = item_keys(request.items, step=step) or item_keys(order.get("item_list"), step=step)
        if not items:
            raise PermanentError(
                "OUT_OF_STOCK needs item_list and the order lists no items", platform=PLATFORM, step=step,
                code="missing_items",
            )
        payload["item_list"] = items
        return payload

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

    def _write(self, path: str, *, api: str, payload: Mapping[str, Any],
               step: str = "cancel") -> tuple[Mapping[str, Any], str | None]:
        return self._call("POST", path, step=step, api=api, payload=payload, write=True)

    def _common(self, path: str, *, public: bool = False) -> dict[str, Any]:
        """The signed common parameters: a Shop API call's, or (``public``) a partner-level call's, signed
        without the shop's token."""
        creds = self.credentials
        timestamp = int(self.clock())
        if public:
            base = base_string(partner_id=creds.partner_id, path=path, timestamp=timestamp)
            return {"partner_id": creds.partner_id, "timestamp": timestamp, "sign": sign(creds.partner_key, base)}
        base = base_string(partner_id=creds.partner_id, path=path, timestamp=timestamp,
                           access_token=creds.access_token, shop_id=creds.shop_id)
        return {"partner_id": creds.partner_id, "timestamp": timestamp, "access_token": creds.access_token,
                "shop_id": creds.shop_id, "sign": sign(creds.partner_key, base)}

    def call_partner(self, method: str, path: str, *, api: str, payload: Mapping[str, Any] | None = None
                     ) -> tuple[Mapping[str, Any], str | None]:
        """A partner-level call (the push APIs): the ``response`` object and the request_id."""
        return self._call(method, path, step=api, api=api, payload=payload, public=True)

    def _call(
        self,
        method: str,
        path: str,
        *,
        step: str,
        api: str,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        write: bool = False,
        public: bool = False,
    ) -> tuple[Mapping[str, Any], str | None]:
        """One signed call (a fresh timestamp each time); the ``response`` object and the request_id."""
        query = {**self._common(path, public=public), **(params or {})}
        body = None if payload is None else json.dumps(payload, separators=(",", ":"))
        headers = None if body is None else {"Content-Type": "application/json"}
        reply = self.http.request(
            method, f"{self.base_url}{path}", step=step, api=api, params=query, body=body, headers=headers
        )
        return self._read(reply, step=step, write=write)

    def _read(self, reply: Reply, *, step: str, write: bool) -> tuple[Mapping[str, Any], str | None]:
        body = reply.body
        if not isinstance(body, dict):
            raise self.http.unparsed(reply, step=step, write=write)
        rid = str(body["request_id"]) if body.get("request_id") else None
        code = str(body.get("error") or "")
        if code or not 200 <= reply.status < 300:
            raise classify(
                http_status=reply.status, code=code, message=self.http.scrub(str(body.get("message") or "")),
                body=body, step=step, retry_after_s=retry_after_header(reply), write=write,
            )
        response = body.get("response")
        return (response if isinstance(response, dict) else {}), rid


def no_buyer_request(order_id: str, raw_status: str, *, request_id: str | None = None) -> PermanentError:
    return PermanentError(
        f"order {order_id} is {raw_status or 'unknown'}: no buyer cancellation request is pending any more "
        "(the seller rejected it, or the buyer withdrew it)", platform=PLATFORM, step="accept",
        code="no_buyer_request", request_id=request_id,
    )


def _cancel_effects(payload: Mapping[str, Any]) -> tuple[str, ...]:
    effects = [f"cancel_order {payload['cancel_reason']}: the whole order is cancelled by the seller",
               "a seller cancellation counts towards the shop's non-fulfilment rate"]
    if payload.get("item_list"):
        named = ", ".join(f"{i['item_id']}/{i['model_id']}" for i in payload["item_list"])
        effects.append(f"items reported out of stock (item_id/model_id): {named}")
    return tuple(effects)


def item_keys(items: Iterable[Any] | None, *, step: str = "detail") -> list[dict[str, int]]:
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
