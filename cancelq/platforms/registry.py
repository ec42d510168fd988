"""Platforms by name: the one place that knows which adapters exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from .base import Platform, Throttle
from .errors import PlatformError
from .http import Timeouts
from .lazada import LazadaAdapter
from .shopee import ShopeeAdapter
from .shoplazza import ShoplazzaAdapter
from .shopline import ShoplineAdapter


class AdapterFactory(Protocol):
    def parse_credentials(self, credentials: Mapping[str, Any]) -> Any: ...

    def from_credentials(
        self,
        credentials: Mapping[str, Any],
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
    ) -> Platform: ...


ADAPTERS: dict[str, AdapterFactory] = {
    "shopee": ShopeeAdapter,
    "lazada": LazadaAdapter,
    "shopline": ShoplineAdapter,
    "shoplazza": ShoplazzaAdapter,
}

PLATFORM_NAMES: tuple[str, ...] = tuple(ADAPTERS)
BUYER_REQUEST_PLATFORMS: tuple[str, ...] = ("shopee", "lazada")
"""Platforms where a buyer asks to cancel and the seller accepts or rejects (``Action.ACCEPT_BUYER_CANCEL``)."""


def build_adapter(
    platform: str,
    credentials: Mapping[str, Any],
    *,
    base_url: str | None = None,
    session: requests.Session | None = None,
    throttle: Throttle | None = None,
    timeouts: Timeouts | None = None,
) -> Platform:
    try:
        factory = ADAPTERS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(ADAPTERS)}") from None
    return factory.from_credentials(
        credentials, base_url=base_url, session=session, throttle=throttle, timeouts=timeouts
    )


def credential_problem(platform: str, credentials: Any, base_url: str | None = None) -> str | None:
    """What is wrong with a shop's settings before anything is stored ("" or None: nothing we can see).

    The platform's own parsing decides which fields it needs and their types (the adapter would refuse the
    same at its first job); secret values are never part of the answer."""
    if platform not in ADAPTERS:
        return f"unknown platform {platform!r}; expected one of {', '.join(ADAPTERS)}"
    if not isinstance(credentials, Mapping):
        return "credentials must be a JSON object"
    empty = sorted(k for k, v in credentials.items() if not isinstance(v, str | int) or isinstance(v, bool)
                   or v == "")
    if empty:
        return f"credential fields must be non-empty strings or integers: {', '.join(empty)}"
    url_problem = base_url_problem(base_url) if base_url else None
    if url_problem:
        return url_problem
    try:
        ADAPTERS[platform].parse_credentials(credentials)
    except PlatformError as exc:
        return exc.message
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc)
    return None


def base_url_problem(base_url: str) -> str | None:
    """A base URL must be ``http(s)://host[:port]``: a path or query would be silently dropped or doubled."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"base URL {base_url!r} is not http(s)://host[:port]"
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
        return f"base URL {base_url!r} must be only scheme://host[:port], with no path, query or login"
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return f"base URL {base_url!r} has no valid port"
    return None
