"""Placeholder: the Shopline adapter is being written."""

from __future__ import annotations

from typing import Any


class ShoplineAdapter:
    name = "shopline"

    @classmethod
    def from_credentials(cls, credentials: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
