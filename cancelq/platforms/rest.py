"""The flow both Shopify-like store APIs share (SHOPLINE, Shoplazza): one write step, one read of the order.

A subclass names its paths, its auth header and its request-id header, and
supplies its own ``classify`` (status -> class), ``order_state`` and cancel
body. Everything else lives here: building the URLs (the sandbox tells stores
apart by the Host header, as the real edges do), the cancel and the read, and
the reading of answers:

- a non-2xx answer (or a refused envelope) is classified by the platform;
- to the write, an answer that cannot be read is never a clean refusal
  (a proxy's page, a cut body): ``TransientError(check_status=True)``, unless
  its status refuses at the door (401, 429), before anything is applied;
- a 2xx answer without an order leaves the write's fate unknown too.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import quote

from . import rest_status
from .base import CancelRequest, OrderState, OrderStatus, Preview, StepResult, StepSpec, StepState
from .errors import PermanentError, TransientError
from .http import HttpClient, Reply
from .rest_status import Verdict
from .wiring import Adapter

CANCEL = StepSpec("cancel", "cancel_order", True)
DOOR_REFUSALS = frozenset({401, 429})
"""Refused at the door (no token, over the limit) whatever the body says: told by the status even to a write."""


class StoreCredentials(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def api_version(self) -> str: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=StoreCredentials)


def raw_status(order: Mapping[str, Any]) -> str:
    status = str(order.get("status") or "unknown")
    fulfillment = order.get("fulfillment_status")
    return f"{status}/{fulfillment}" if fulfillment else status


class StoreAdapter(Adapter[S]):
    """The cancel flow of a store-hosted REST API; see the module docstring."""

    label: ClassVar[str]
    """The platform's name in messages."""
    api_prefix: ClassVar[str]
    """The API root under the store's host, with ``{version}``."""
    order_path: ClassVar[str]
    cancel_path: ClassVar[str]
    """Both with ``{id}``, the quoted order id."""
    request_id_header: ClassVar[str]
    content_type: ClassVar[str] = "application/json"
    detail_keys: ClassVar[tuple[str, ...]]
    cancelled_at_key: ClassVar[str]

    def __init__(self, *, credentials: S, http: HttpClient, base_url: str | None = None) -> None:
        super().__init__(credentials=credentials, http=http)
        root = base_url.rstrip("/") if base_url else f"https://{credentials.host}"
        self._api_root = root + self.api_prefix.format(version=credentials.api_version)
        self._host_header = {"Host": credentials.host} if base_url else {}

    # --- what a platform says ---

    @abstractmethod
    def auth_headers(self) -> dict[str, str]: ...

    @abstractmethod
    def cancel_payload(self, request: CancelRequest, *, step: str) -> Mapping[str, Any]:
        """The cancel body; bad options or reasons fail here, before any write."""

    @abstractmethod
    def classify(self, http_status: int, code: str | None, message: str, body: Any = None, *,
                 writes: bool = False) -> Verdict: ...

    @abstractmethod
    def order_state(self, order: Mapping[str, Any]) -> OrderState: ...

    def unwrap(self, body: Any) -> Mapping[str, Any] | None:
        """The order in a success body; None when there is none."""
        order = body.get("order") if isinstance(body, Mapping) else None
        return order if isinstance(order, Mapping) else None

    def refused(self, reply: Reply) -> bool:
        return not 200 <= reply.status < 300

    def side_effects(self, request: CancelRequest) -> tuple[str, ...]:
        return ()

    # --- the protocol ---

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]:
        return [CANCEL]

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult:
        if step != CANCEL.name:
            raise PermanentError(f"no step {step!r} in the {self.label} flow", platform=self.name, step=step,
                                 code="unknown_step")
        return self._cancel(request)

    def read_status(self, request: CancelRequest) -> OrderStatus:
        path = self.order_path.format(id=_quote(request.order_id))
        reply = self._send("GET", path, step="read_status", api="get_order")
        order = self._order(reply, step="read_status", writes=False)
        detail = {k: order.get(k) for k in self.detail_keys}
        return OrderStatus(self.order_state(order), raw_status(order), self._request_id(reply), detail,
                           cancelled_at=_epoch(order.get(self.cancelled_at_key)))

    def preview(self, request: CancelRequest) -> Preview:
        self.cancel_payload(request, step="preview")
        status = self.read_status(request)
        effects = self.side_effects(request) if status.state is OrderState.CANCELLABLE else ()
        return Preview(status.state, status.raw_status, effects, status.request_id)

    # --- calls ---

    def _cancel(self, request: CancelRequest) -> StepResult:
        payload = json.dumps(self.cancel_payload(request, step=CANCEL.name), separators=(",", ":"),
                             ensure_ascii=False)
        path = self.cancel_path.format(id=_quote(request.order_id))
        reply = self._send("POST", path, step=CANCEL.name, api=CANCEL.api, body=payload.encode())
        order = self._order(reply, step=CANCEL.name, writes=True)
        if self.order_state(order) is not OrderState.CANCELLED:
            raise TransientError(
                f"the cancel was answered with an order in status {raw_status(order)}", platform=self.name,
                step=CANCEL.name, http_status=reply.status, code="not_cancelled",
                request_id=self._request_id(reply), check_status=True,
            )
        data = {"status": order.get("status"), self.cancelled_at_key: order.get(self.cancelled_at_key)}
        return StepResult(data=data, request_id=self._request_id(reply))

    def _send(self, method: str, path: str, *, step: str, api: str, body: bytes | None = None) -> Reply:
        headers = {**self.auth_headers(), "Accept": "application/json", **self._host_header}
        if body is not None:
            headers["Content-Type"] = self.content_type
        return self.http.request(method, f"{self._api_root}{path}", step=step, api=api, body=body, headers=headers)

    def _order(self, reply: Reply, *, step: str, writes: bool) -> Mapping[str, Any]:
        request_id = self._request_id(reply)
        ambiguous = writes and reply.body is None and reply.status not in DOOR_REFUSALS
        if self.refused(reply) and not ambiguous:
            raise rest_status.reply_error(
                reply, classify=self.classify, platform=self.name, step=step, writes=writes,
                request_id=request_id, scrub=self.http.scrub,
            )
        if reply.body is None:
            raise self.http.unparsed(reply, step=step, request_id=request_id, write=writes)
        order = self.unwrap(reply.body)
        if order is None:
            raise TransientError(
                f"answer without an order: {reply.snippet}", platform=self.name, step=step,
                http_status=reply.status, code="unexpected_body", request_id=request_id, check_status=writes,
            )
        return order

    def _request_id(self, reply: Reply) -> str | None:
        return reply.headers.get(self.request_id_header) or None


def _quote(order_id: str) -> str:
    return quote(str(order_id), safe="")


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time as epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
