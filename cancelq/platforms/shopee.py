"""Placeholder: the Shopee adapter is being written."""

from __future__ import annotations

from typing import Any


class ShopeeAdapter:
    name = "shopee"

    @classmethod
    def from_credentials(cls, credentials: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
