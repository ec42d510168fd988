"""What a buyer's request to cancel turns into, by the shop's policy (accept, notify or ignore)."""

from __future__ import annotations

from typing import Any

from cancelq.platforms.base import OrderStatus
from cancelq.pushes.notice import PushNotice


class BuyerRequests:
    """Called by the push processor for every ``buyer_request`` notice, after it has read the order."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def handle(self, notice: PushNotice, order: OrderStatus) -> None:
        """Announce the request (``cancel.buyer_requested``) and, under the shop's ``accept`` policy when its
        condition holds, submit one accept job for the order through the ledger."""
        raise NotImplementedError("buyer requests are being built (issue 17)")
