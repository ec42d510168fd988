"""What every platform's push format shares: the parsed ``Push``, the refusals, and the checks' building blocks.

A receiver works in three steps, each pure: ``shop_ref`` reads who the push claims to be for (not yet trusted),
the caller finds that shop's secret, ``verify`` checks the signature over the raw bytes in constant time, and only
then ``parse`` reads the body. Header names are passed lowercased.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

Headers = Mapping[str, str]
"""A push's headers, names lowercased."""


@dataclass(frozen=True)
class Push:
    """One verified push in the platform's own terms. ``shop_ref`` is the platform's id of the shop (Shopee shop_id,
    Lazada seller_id, the Shopline handle, the Shoplazza subdomain); ``message_id`` what its duplicates share;
    ``pushed_at_ms`` the platform's time of the change (0 when it gives none)."""

    platform: str
    shop_ref: str
    order_id: str
    status: str
    message_id: str
    pushed_at_ms: int = 0
    buyer_request: bool = False


class Unparseable(ValueError):
    """The push's body or headers are not what the platform sends (answered 400)."""


class PushFormat(Protocol):
    """One platform's pushes (``FORMATS`` holds one per platform)."""

    platform: ClassVar[str]
    signature_header: ClassVar[str]
    """The header that carries the signature (lowercased)."""
    signs_callback_url: ClassVar[bool]
    """Whether the signature covers the callback URL registered with the platform (Shopee's does)."""

    def shop_ref(self, headers: Headers, body: bytes) -> str:
        """Who the push says it is for ("": a partner-level push, which names no shop and is signed with the
        app's secret, so any of the app's shops can verify it); raises ``Unparseable``."""
        ...

    def secret_problem(self, credentials: Mapping[str, Any]) -> str | None:
        """What the shop's credentials lack to check a push (None: nothing)."""
        ...

    def verify(self, credentials: Mapping[str, Any], headers: Headers, body: bytes, *, callback_url: str) -> bool:
        """Whether the signature header matches the raw body, compared in constant time."""
        ...

    def parse(self, headers: Headers, body: bytes) -> Push | None:
        """The push (None: a kind of push that tells nothing of orders); raises ``Unparseable``."""
        ...


def hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def hmac_base64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def same(expected: str, given: str | None) -> bool:
    """Constant-time equality of a signature we computed and the one sent (any bytes at all)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "surrogateescape"))


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Unparseable("the body is not JSON") from None
    if not isinstance(value, dict):
        raise Unparseable("the body is not a JSON object")
    return value


def text_field(data: Mapping[str, Any], name: str, *, where: str = "the body") -> str:
    """A required id-like field (string or integer, not empty)."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise Unparseable(f"{where} has no {name}")
    return str(value)[:200]


def digest(*parts: object) -> str:
    """A message identity made from the push's own fields (for platforms that send none)."""
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:32]


def epoch_ms(value: Any) -> int:
    """A platform time (seconds or milliseconds since the epoch, or ISO-8601) in ms; 0 when it is none of those."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            number = int(value)
        except (OverflowError, ValueError):  # JSON's Infinity and NaN
            return 0
        return number if number > 10**11 else number * 1000
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            return 0
    return 0
