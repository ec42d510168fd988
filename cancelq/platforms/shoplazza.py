"""Placeholder: the Shoplazza adapter is being written."""

from __future__ import annotations

from typing import Any


class ShoplazzaAdapter:
    name = "shoplazza"

    @classmethod
    def from_credentials(cls, credentials: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
