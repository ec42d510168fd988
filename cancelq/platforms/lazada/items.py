"""The targets of a Lazada cancel among an order's items, and the texts that describe them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base import CancelRequest, StepState
from ..errors import PermanentError
from ..reasons import Reason
from .classify import PLATFORM

CANCELED = "canceled"
CANCELLABLE_STATUSES = frozenset({"pending", "packed", "ready_to_ship", "repacked"})
PACKAGED_STATUSES = frozenset({"packed", "ready_to_ship", "repacked"})
STOCK_ZEROING_REASONS = frozenset({Reason.OUT_OF_STOCK, Reason.PRICING_ERROR})


@dataclass(frozen=True)
class Items:
    """The targets of a cancel among an order's items, as one GetOrderItems answer shows them."""

    statuses: Mapping[int, str]
    targets: tuple[int, ...]
    packages: Mapping[int, str]
    request_id: str | None
    http_status: int
    pending: Mapping[int, str] = field(default_factory=dict)
    """Items the buyer asked to cancel, waiting for the seller's decision (``need_cancel_confirm``): their
    reverse order's id."""

    @property
    def raw_status(self) -> str:
        return ",".join(sorted({self.statuses[i] for i in self.targets}))

    def all_canceled(self) -> bool:
        return all(self.statuses[i] == CANCELED for i in self.targets)

    def open_targets(self) -> tuple[int, ...]:
        """The targets still to cancel: already-cancelled ones are dropped."""
        return tuple(i for i in self.targets if self.statuses[i] != CANCELED)

    def blocked(self) -> dict[int, str]:
        return {i: self.statuses[i] for i in self.open_targets() if self.statuses[i] not in CANCELLABLE_STATUSES}

    def package_spill(self) -> list[int]:
        """Items outside the targets that Lazada cancels too: same package as a packed target."""
        packages = {self.packages[i] for i in self.open_targets()
                    if self.statuses[i] in PACKAGED_STATUSES and self.packages.get(i)}
        return sorted(i for i, pkg in self.packages.items()
                      if pkg in packages and i not in self.targets and self.statuses[i] != CANCELED)

    def statuses_of_targets(self) -> dict[str, str]:
        return {str(i): self.statuses[i] for i in self.targets}

    def buyer_requests(self) -> dict[str, list[int]]:
        """The buyer's pending requests among the open targets: reverse order id -> its target items."""
        found: dict[str, list[int]] = {}
        for i in self.open_targets():
            if i in self.pending:
                found.setdefault(self.pending[i], []).append(i)
        return found

    def unrequested(self) -> tuple[int, ...]:
        """Open targets no buyer's request covers."""
        return tuple(i for i in self.open_targets() if i not in self.pending)


def pending_requests(rows: list[Mapping[str, Any]]) -> dict[int, str]:
    """GetOrderItems rows awaiting the seller's decision on a buyer's request: item id -> reverse order id."""
    return {int(r["order_item_id"]): str(r.get("reverse_order_id") or "") for r in rows
            if r.get("need_cancel_confirm") and r.get("reverse_order_id")}


def buyer_targets(rows: list[Mapping[str, Any]]) -> tuple[int, ...]:
    """What an accept job without items is about: the items the buyer asked to cancel (pending, or cancelled
    on the buyer's request)."""
    return tuple(int(r["order_item_id"]) for r in rows
                 if r.get("need_cancel_confirm") or r.get("cancel_return_initiator") == "cancellation-customer")


def no_buyer_request(order_id: str, items: Items, *, step: str) -> PermanentError:
    return PermanentError(
        f"order {order_id}: no buyer cancellation request is pending for items {list(items.unrequested())} any "
        "more (the seller refused it, or the buyer withdrew it)", platform=PLATFORM, step=step,
        code="no_buyer_request", request_id=items.request_id, http_status=items.http_status,
    )


def requested_ids(request: CancelRequest, *, step: str) -> tuple[int, ...]:
    ids = []
    for item in request.items:
        value = item.get("order_item_id")
        if isinstance(value, bool) or not str(value).isdigit():
            raise PermanentError(
                f"a Lazada item is named by an integer order_item_id, got {value!r}", platform=PLATFORM,
                step=step, code="invalid_item",
            )
        ids.append(int(str(value)))
    return tuple(dict.fromkeys(ids))


def item_ids(state: StepState, source: str, *, step: str) -> tuple[int, ...]:
    ids = state.get(source, {}).get("order_item_ids")
    if not ids:
        raise missing(source, "order_item_ids", step=step)
    return tuple(int(i) for i in ids)


def missing(source: str, key: str, *, step: str) -> PermanentError:
    return PermanentError(
        f"step {step!r} needs {key} from step {source!r}, which did not run", platform=PLATFORM, step=step,
        code="missing_step_data",
    )


def describe(statuses: Mapping[int, str]) -> str:
    return ", ".join(f"{i} is {s or 'unknown'}" for i, s in sorted(statuses.items()))


def blocked_text(blocked: Mapping[int, str]) -> str:
    allowed = ", ".join(sorted(CANCELLABLE_STATUSES))
    return f"items not cancellable ({describe(blocked)}); only {allowed} items can be cancelled"


def side_effects(request: CancelRequest, items: Items, tip_content: str) -> list[str]:
    effects = [tip_content] if tip_content else []
    if request.reason in STOCK_ZEROING_REASONS:
        effects.append("stock will be set to 0 for the cancelled SKUs")
    spill = items.package_spill()
    if spill:
        effects.append(f"items {spill} share a package with a packed target and will be cancelled too")
    skipped = [i for i in items.targets if items.statuses[i] == CANCELED]
    if skipped:
        effects.append(f"items {skipped} are already cancelled and are left out")
    return effects
