"""Placeholder: the Lazada adapter is being written."""

from __future__ import annotations

from typing import Any


class LazadaAdapter:
    name = "lazada"

    @classmethod
    def from_credentials(cls, credentials: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
