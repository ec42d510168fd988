"""One platform push, as cancelq keeps it in ``keys.PUSHES``: what changed, for which order, and the platform's
own identity of the message (what duplicates are recognised by)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

KINDS = ("status", "buyer_request")
"""``status``: the order's status changed (cancelled, shipped, ...); ``buyer_request``: the buyer asked to cancel
(Shopee IN_CANCEL, Lazada ``CANCEL_INIT`` / ``need_cancel_confirm``)."""


@dataclass(frozen=True)
class PushNotice:
    """``shop`` is the registry's shop name (the receiver maps the platform's shop id, seller id or domain to it);
    ``status`` the platform's own word, as pushed; ``pushed_at_ms`` the platform's time of the change (0 when the
    push carries none); ``received_ms`` when the receiver took it."""

    platform: str
    shop: str
    order_id: str
    kind: str
    status: str
    message_id: str
    pushed_at_ms: int = 0
    received_ms: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"push kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def fields(self) -> dict[str, str]:
        """The stream entry's fields."""
        return {name: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: Mapping[bytes | str, bytes | str]) -> PushNotice:
        text = {_text(k): _text(v) for k, v in fields.items()}
        return cls(platform=text["platform"], shop=text["shop"], order_id=text["order_id"], kind=text["kind"],
                   status=text.get("status", ""), message_id=text.get("message_id", ""),
                   pushed_at_ms=int(text.get("pushed_at_ms") or 0), received_ms=int(text.get("received_ms") or 0))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
