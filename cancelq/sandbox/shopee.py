"""Placeholder: the Shopee emulator is being written."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .emulator import Emulator


class ShopeeEmulator(Emulator):
    platform = "shopee"

    def routes(self) -> list[web.RouteDef]:
        return []

    def new_order(self, shop: Any, order_id: str, spec: dict[str, Any]) -> Any:
        raise NotImplementedError

    def new_shop(self, spec: dict[str, Any]) -> Any:
        raise NotImplementedError

    def render_error(self, fault: Any) -> web.Response:
        raise NotImplementedError

    def render_rate_limited(self) -> web.Response:
        raise NotImplementedError

    def ship(self, order: Any) -> None:
        raise NotImplementedError
