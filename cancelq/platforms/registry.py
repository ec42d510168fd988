"""Platforms by name: the one place that knows which adapters exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import requests

from .base import Platform, Throttle
from .http import Timeouts
from .lazada import LazadaAdapter
from .shopee import ShopeeAdapter
from .shoplazza import ShoplazzaAdapter
from .shopline import ShoplineAdapter


class AdapterFactory(Protocol):
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
