"""The narrow protocol every platform adapter implements, and the values it trades in.

A cancel flow is a short list of named steps (``plan``). The orchestrator runs
them in order with ``run_step``, keeping each step's ``StepResult.data`` and
handing all of it back to later steps, so a flow can resume after any step on
another worker. ``read_status`` is the reconciliation read: it is called before
any second write after an ambiguous failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self

from .reasons import Reason

Throttle = Callable[[str], None]
"""Called with the API name before every HTTP request; it may block or raise to defer the call."""

StepState = Mapping[str, Mapping[str, Any]]
"""The data of the steps already completed, by step name."""


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    ALREADY_CANCELLED = "already_cancelled"


class Action(StrEnum):
    """What a job asks of an order: cancel it, or accept the buyer's own request to cancel it."""

    CANCEL = "cancel"
    ACCEPT_BUYER_CANCEL = "accept_buyer_cancel"


class OrderState(StrEnum):
    """A platform's order status folded into what matters for a cancel."""

    CANCELLED = "cancelled"
    CANCELLABLE = "cancellable"
    IN_CANCEL = "in_cancel"
    NOT_CANCELLABLE = "not_cancellable"


@dataclass(frozen=True)
class CancelRequest:
    """One order to cancel. ``items`` narrows a partial cancel (platform-shaped dicts). ``action``
    ``accept_buyer_cancel`` accepts the buyer's pending request instead (Shopee IN_CANCEL, Lazada
    ``need_cancel_confirm``): no request pending is a ``PermanentError`` with code ``no_buyer_request``."""

    order_id: str
    reason: Reason
    note: str = ""
    items: tuple[Mapping[str, Any], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    action: Action = Action.CANCEL

    @property
    def accepting(self) -> bool:
        return self.action is Action.ACCEPT_BUYER_CANCEL


@dataclass(frozen=True)
class StepSpec:
    """A step of a flow: ``api`` names the platform API it calls (limiter keys, metrics)."""

    name: str
    api: str
    writes: bool


@dataclass(frozen=True)
class StepResult:
    """What a step learned. ``data`` is JSON-serialisable and holds no secret.

    ``outcome`` set means the job is finished after this step (for instance the
    first read found the order already cancelled).
    """

    data: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    outcome: Outcome | None = None


@dataclass(frozen=True)
class OrderStatus:
    """An order's status as read. For a cancelled order, ``cancelled_by`` (who, where the platform says:
    Shopee's ``cancel_by``) and ``cancelled_at`` (when, epoch seconds) tell whether a cancel could be ours."""

    state: OrderState
    raw_status: str
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    cancelled_by: str | None = None
    cancelled_at: float | None = None


@dataclass(frozen=True)
class Preview:
    """What a cancel would do, found without any write call (campaign dry-runs)."""

    state: OrderState
    raw_status: str
    side_effects: tuple[str, ...] = ()
    request_id: str | None = None


class Platform(Protocol):
    """A platform's cancel flow. Implementations hold no Celery, Redis or settings."""

    name: ClassVar[str]

    def plan(self, request: CancelRequest) -> Sequence[StepSpec]: ...

    def run_step(self, step: str, request: CancelRequest, state: StepState) -> StepResult: ...

    def read_status(self, request: CancelRequest) -> OrderStatus: ...

    def preview(self, request: CancelRequest) -> Preview: ...

    def with_throttle(self, throttle: Throttle | None) -> Self:
        """A copy that calls ``throttle`` before each HTTP request, sharing everything else; ``self`` is unchanged.

        Adapters are cached per shop and shared by concurrent jobs: each delivery
        takes its own copy, so what its gate learns stays with that delivery.
        """
        ...
