"""The Lazada adapter: cancel by order item, through validate then create.

The flow (platforms.md 2.2)::

    items     GET  /order/items/get                 the order's items; pick the targets
    validate  GET  /order/reverse/cancel/validate   can they be cancelled? which reason_ids?
    create    POST /order/reverse/cancel/create     the write (form body, as the official SDK sends it)
    verify    GET  /order/items/get                 success is every target item reading ``canceled``

Items the buyer asked to cancel (``need_cancel_confirm``, a reverse order awaiting the seller) cannot take a
seller cancel: ``create`` agrees to the buyer's request instead (InitReverseOrderCancelDecide,
``agree_cancel=true``), and validates and cancels only the rest. An accept job (``CancelRequest.accepting``)
runs ``items``, ``accept`` (the decision only) and ``verify``; a target with no request pending is
``no_buyer_request``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..base import CancelRequest, OrderState, OrderStatus, Outcome, Preview, StepResult, StepSpec, StepState
from ..errors import PermanentError, TransientError
from ..http import HttpClient, Reply
from ..reasons import UnmappableReason, lazada_reason_id
from ..wiring import Adapter
from . import items as it
from .classify import PLATFORM, classify, data_of, request_id, tip_content, tip_type
from .signing import item_id_list, signed_params

GATEWAY_HOSTS: Mapping[str, str] = {
    "sg": "https://api.lazada.sg",
    "my": "https://api.lazada.com.my",
    "vn": "https://api.lazada.vn",
    "th": "https://api.lazada.co.th",
    "ph": "https://api.lazada.com.ph",
    "id": "https://api.lazada.co.id",
}
GATEWAY_PREFIX = "/rest"

API_PATHS: Mapping[str, str] = {
    "GetOrderItems": "/order/items/get",
    "OrderCancelValidate": "/order/reverse/cancel/validate",
    "InitReverseOrderCancel": "/order/reverse/cancel/create",
    "InitReverseOrderCancelDecide": "/order/reverse/cancel/seller/decide",
}

PLAN: tuple[StepSpec, ...] = (
    StepSpec("items", "GetOrderItems", False),
    StepSpec("validate", "OrderCancelValidate", False),
    StepSpec("create", "InitReverseOrderCancel", True),
    StepSpec("verify", "GetOrderItems", False),
)
ACCEPT_PLAN: tuple[StepSpec, ...] = (
    StepSpec("items", "GetOrderItems", False),
    StepSpec("accept", "InitReverseOrderCancelDecide", True),
    StepSpec("verify", "GetOrderItems", False),
)


@dataclass(frozen=True)
class LazadaCredentials:
    """An app's keys and one seller's token; ``country`` picks the gateway."""

    app_key: str
    app_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    country: str = "sg"
    refresh_token: str = field(default="", repr=False)
    """Optional: only ``tokens.refresh_tokens`` uses it; kept here so that no answer can echo it."""

    @classmethod
    def from_mapping(cls, credentials: Mapping[str, Any]) -> LazadaCredentials:
        missing = [k for k in ("app_key", "app_secret", "access_token") if not credentials.get(k)]
        if missing:
            raise ValueError(f"Lazada credentials lack {', '.join(missing)}")
        country = str(credentials.get("country") or "sg").lower()
        if country not in GATEWAY_HOSTS:
            raise ValueError(f"unknown Lazada country {country!r}; expected one of {', '.join(GATEWAY_HOSTS)}")
        return cls(
            app_key=str(credentials["app_key"]), app_secret=str(credentials["app_secret"]),
            access_token=str(credentials["access_token"]), country=country,
            refresh_token=str(credentials.get("refresh_token") or ""),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.app_secret, self.access_token, self.refresh_token)


@dataclass(frozen=True)
class _Answer:
    """A successful Lazada answer: its body and the HTTP status it came with."""

    body: Mapping[str, Any]
    http_status: int

    @property
    def request_id(self) -> str | None:
        return request_id(self.body)

    @property
    def tip_type(self) -> str:
        return tip_type(self.body)

    @property
    def tip_content(self) -> str:
        return tip_content(self.body)


class LazadaAdapter(Adapter[LazadaCredentials]):
    """Cancels Lazada order items through GetOrderItems, OrderCancelValidate and InitReverseOrderCancel."""

    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        *,
        credentials: LazadaCredentials,
        http: HttpClient,
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(credentials=credentials, http=http)
        host = base_url.rstrip("/") if base_url else GATEWAY_HOSTS[credentials.country]
        self.gateway = host + GATEWAY_PREFIX
        self.clock = clock

    @classmethod
    def parse_credentials(cls, credentials: Mapping[str, Any]) -> LazadaCredentials:
        return LazadaCredentials.from_mapping(credentials)

    def __repr__(self) -> str:
        return f"LazadaAdapter(app_key={self.credentials.app_key!r}, gateway={self.gateway!r})"

    # --- the protocol ---

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        return ACCEPT_PLAN if request.accepting else PLAN

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        runners: dict[str, Callable[[CancelRequest, StepState], StepResult]] = {
            "items": self._step_items, "validate": self._step_validate,
            "create": self._step_create, "verify": self._step_verify, "accept": self._step_accept,
        }
        if step not in runners:
            raise ValueError(f"Lazada has no step {step!r}; expected one of {', '.join(runners)}")
        return runners[step](request, state)

    def read_status(self, request: CancelRequest) -> OrderStatus:
        items = self._items(request, step="read_status")
        detail: dict[str, Any] = {"items": items.statuses_of_targets()}
        if items.buyer_requests():
            detail["buyer_requests"] = sorted(items.buyer_requests())
        if items.all_canceled():
            state = OrderState.CANCELLED
        elif items.blocked():
            state = OrderState.NOT_CANCELLABLE
        elif items.buyer_requests():
            state = OrderState.IN_CANCEL
        else:
            state = OrderState.CANCELLABLE
        return OrderStatus(state, items.raw_status, items.request_id, detail)

    def preview(self, request: CancelRequest) -> Preview:
        items = self._items(request, step="preview")
        if items.all_canceled():
            return Preview(OrderState.CANCELLED, items.raw_status, request_id=items.request_id)
        blocked = items.blocked()
        if blocked:
            return Preview(OrderState.NOT_CANCELLABLE, items.raw_status, (it.blocked_text(blocked),), items.request_id)
        found = _buyer_preview(request, items)
        if found is not None:
            return found
        answer = self._validate_call(request.order_id, items.unrequested(), step="preview", refuse=False)
        if answer.tip_type == "error":
            tip = answer.tip_content or "Lazada refused the cancel"
            return Preview(OrderState.NOT_CANCELLABLE, items.raw_status, (tip,), answer.request_id)
        reason_id, reason_name = self._reason(request, answer, step="preview")
        effects = [f"reason: {reason_name} (reason_id {reason_id})"]
        effects += it.side_effects(request, items, answer.tip_content)
        effects += [f"the buyer's own request (reverse order {r}) is accepted for items {ids}"
                    for r, ids in items.buyer_requests().items()]
        return Preview(OrderState.CANCELLABLE, items.raw_status, tuple(effects), answer.request_id)

    # --- steps ---

    def _step_items(self, request: CancelRequest, state: StepState) -> StepResult:
        items = self._items(request, step="items")
        if items.all_canceled():
            done = {"order_item_ids": list(items.targets), "statuses": items.statuses_of_targets()}
            return StepResult(done, items.request_id, Outcome.ALREADY_CANCELLED)
        blocked = items.blocked()
        if blocked:
            raise PermanentError(
                it.blocked_text(blocked), platform=PLATFORM, step="items", code="not_cancellable",
                request_id=items.request_id, http_status=items.http_status,
            )
        if request.accepting and items.unrequested():
            raise it.no_buyer_request(request.order_id, items, step="items")
        data: dict[str, Any] = {
            "order_item_ids": list(items.open_targets()),
            "already_canceled": [i for i in items.targets if items.statuses[i] == it.CANCELED],
            "package_spill": items.package_spill(),
        }
        if items.buyer_requests():
            data["buyer_requests"] = items.buyer_requests()
        return StepResult(data, items.request_id)

    def _step_validate(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = it.item_ids(state, "items", step="validate")
        requests = dict(state["items"].get("buyer_requests") or {})
        accepted = {int(i) for ids in requests.values() for i in ids}
        rest = [i for i in item_ids if i not in accepted]
        data: dict[str, Any] = {"order_item_ids": list(item_ids)}
        if requests:
            data.update(buyer_requests=requests, cancel_ids=rest)
        if not rest:
            return StepResult(data)
        answer = self._validate_call(request.order_id, rest, step="validate", refuse=True)
        reason_id, reason_name = self._reason(request, answer, step="validate")
        data.update(reason_id=reason_id, reason_name=reason_name, tip_type=answer.tip_type,
                    tip_content=answer.tip_content)
        return StepResult(data, answer.request_id)

    def _step_create(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = it.item_ids(state, "validate", step="create")
        requests = state["validate"].get("buyer_requests") or {}
        rid = self._agree(requests, step="create")
        rest = [int(i) for i in state["validate"].get("cancel_ids", item_ids)]
        data: dict[str, Any] = {"order_item_ids": list(item_ids)}
        if requests:
            data["accepted"] = sorted(requests)
        if not rest:
            return StepResult(data, rid)
        reason_id = str(state["validate"].get("reason_id") or "")
        if not reason_id:
            raise it.missing("validate", "reason_id", step="create")
        params = {"order_id": request.order_id, "order_item_id_list": item_id_list(rest), "reason_id": reason_id}
        answer = self._call("InitReverseOrderCancel", params, step="create", write=True)
        data.update(tip_type=answer.tip_type, tip_content=answer.tip_content)
        return StepResult(data, answer.request_id)

    def _step_accept(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = it.item_ids(state, "items", step="accept")
        requests = state["items"].get("buyer_requests") or {}
        rid = self._agree(requests, step="accept")
        return StepResult({"order_item_ids": list(item_ids), "accepted": sorted(requests)}, rid)

    def _agree(self, requests: Mapping[str, Any], *, step: str) -> str | None:
        """Agree to each of the buyer's requests (reverse order ids); the last answer's request id."""
        rid = None
        for reverse_id in sorted(requests):
            params = {"reverse_order_id": str(reverse_id), "agree_cancel": "true"}
            rid = self._call("InitReverseOrderCancelDecide", params, step=step, write=True).request_id
        return rid

    def _step_verify(self, request: CancelRequest, state: StepState) -> StepResult:
        item_ids = it.item_ids(state, "validate" if "validate" in state else "items", step="verify")
        items = self._items(request, step="verify", targets=item_ids)
        if not items.all_canceled():
            pending = {i: s for i, s in items.statuses.items() if i in item_ids and s != it.CANCELED}
            raise TransientError(
                f"items not cancelled yet: {it.describe(pending)}", platform=PLATFORM, step="verify",
                code="not_yet_cancelled", request_id=items.request_id, http_status=items.http_status,
            )
        return StepResult({"order_item_ids": list(item_ids), "statuses": items.statuses_of_targets()},
                          items.request_id)

    # --- calls ---

    def _items(self, request: CancelRequest, *, step: str, targets: Sequence[int] | None = None) -> it.Items:
        answer = self._call("GetOrderItems", {"order_id": request.order_id}, step=step)
        rows = answer.body.get("data")
        if not isinstance(rows, list) or not rows:
            raise PermanentError(
                f"order {request.order_id} has no items", platform=PLATFORM, step=step, code="no_items",
                request_id=answer.request_id, http_status=answer.http_status,
            )
        statuses = {int(r["order_item_id"]): str(r.get("status", "")) for r in rows}
        packages = {int(r["order_item_id"]): str(r.get("package_id") or "") for r in rows}
        wanted = tuple(targets) if targets is not None else it.requested_ids(request, step=step)
        if not wanted and request.accepting:
            wanted = it.buyer_targets(rows)
        unknown = [i for i in wanted if i not in statuses]
        if unknown:
            raise PermanentError(
                f"order {request.order_id} has no items {unknown}", platform=PLATFORM, step=step,
                code="unknown_item", request_id=answer.request_id, http_status=answer.http_status,
            )
        return it.Items(statuses, wanted or tuple(statuses), packages, answer.request_id, answer.http_status,
                        it.pending_requests(rows))

    def _validate_call(self, order_id: str, item_ids: Sequence[int], *, step: str, refuse: bool) -> _Answer:
        params = {"order_id": order_id, "order_item_id_list": item_id_list(item_ids)}
        return self._call("OrderCancelValidate", params, step=step, refuse_tip_error=refuse)

    def _reason(self, request: CancelRequest, answer: _Answer, *, step: str) -> tuple[str, str]:
        options = [o for o in data_of(answer.body).get("reason_options") or [] if isinstance(o, Mapping)]
        try:
            reason_id = lazada_reason_id(request.reason, options)
        except UnmappableReason as exc:
            raise PermanentError(
                str(exc), platform=PLATFORM, step=step, code="unmappable_reason", request_id=answer.request_id,
                http_status=answer.http_status,
            ) from None
        name = next((str(o.get("reason_name")) for o in options if str(o.get("reason_id")) == reason_id), "")
        return reason_id, name

    def _call(
        self, api: str, params: Mapping[str, str], *, step: str, write: bool = False, refuse_tip_error: bool = True,
    ) -> _Answer:
        path = API_PATHS[api]
        signed = signed_params(
            app_key=self.credentials.app_key, app_secret=self.credentials.app_secret,
            access_token=self.credentials.access_token, api_path=path, params=params,
            timestamp_ms=int(self.clock() * 1000),
        )
        url = self.gateway + path
        if write:
            reply = self.http.request("POST", url, step=step, api=api, data=signed)
        else:
            reply = self.http.request("GET", url, step=step, api=api, params=signed)
        return self._checked(reply, step=step, write=write, refuse_tip_error=refuse_tip_error)

    def _checked(self, reply: Reply, *, step: str, write: bool, refuse_tip_error: bool) -> _Answer:
        body = reply.body
        if not isinstance(body, Mapping) or "code" not in body:
            problem = reply.body_error or "the answer has no Lazada code"
            raise self.http.unparsed(replace(reply, body_error=problem), step=step, write=write)
        tip_refused = refuse_tip_error and tip_type(body) == "error"
        if str(body["code"]) != "0" or tip_refused or reply.status >= 400:
            raise classify(reply.status, body, step=step, write=write, scrub=self.http.scrub)
        return _Answer(body, reply.status)


def _buyer_preview(request: CancelRequest, items: it.Items) -> Preview | None:
    """What a dry run says when buyers' requests decide it: an accept (would accept), or an accept job with no
    request left; None when the seller's cancel path applies."""
    if request.accepting and items.unrequested():
        effects = (it.no_buyer_request(request.order_id, items, step="preview").message,)
        return Preview(OrderState.NOT_CANCELLABLE, items.raw_status, effects, items.request_id)
    if not items.buyer_requests() or (items.unrequested() and not request.accepting):
        return None
    accepted = tuple(f"InitReverseOrderCancelDecide agree_cancel: the buyer's own request (reverse order {r}) is "
                     f"accepted for items {ids}" for r, ids in items.buyer_requests().items())
    return Preview(OrderState.IN_CANCEL, items.raw_status, accepted, items.request_id)
