"""A small client of the sandbox's control API, for tests, the demo and the benchmarks."""

from __future__ import annotations

from typing import Any

import requests


class SandboxError(RuntimeError):
    pass


def is_cancelled(view: dict[str, Any]) -> bool:
    """Whether a sandbox order view (``SandboxClient.order``) reads as cancelled on its platform."""
    if view["platform"] == "lazada":
        items = view.get("items") or []
        return bool(items) and all(item.get("status") == "canceled" for item in items)
    return str(view.get("status", "")).lower() in ("cancelled", "canceled")


class SandboxClient:
    def __init__(self, url: str, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=30)
        if response.status_code >= 400:
            raise SandboxError(f"sandbox {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def add_shop(self, platform: str, **creds: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/shops", {"platform": platform, **creds})
        return result

    def shop(self, platform: str, ref: str) -> dict[str, Any]:
        """The shop's token state: ref, refreshes, token_expires_at, refresh_valid (no secrets)."""
        result: dict[str, Any] = self._call("GET", f"/shops/{platform}/{ref}")
        return result

    def add_order(self, platform: str, shop: str, order_id: str, **spec: Any) -> dict[str, Any]:
        body = {"platform": platform, "shop": shop, "order_id": order_id, **spec}
        result: dict[str, Any] = self._call("POST", "/orders", body)["orders"][0]
        return result

    def add_orders(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/orders", {"orders": orders})["orders"]
        return result

    def order(self, platform: str, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/orders/{platform}/{order_id}")
        return result

    def orders(self, platform: str | None = None) -> list[dict[str, Any]]:
        path = f"/orders?platform={platform}" if platform else "/orders"
        result: list[dict[str, Any]] = self._call("GET", path)["orders"]
        return result

    def ship(self, platform: str, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/orders/{platform}/{order_id}/ship")
        return result

    def cancel_elsewhere(self, platform: str, order_id: str) -> dict[str, Any]:
        """A person cancels the order in the seller center (no API call of ours)."""
        result: dict[str, Any] = self._call("POST", f"/orders/{platform}/{order_id}/cancel")
        return result

    def push_target(self, platform: str, shop: str, url: str, **options: Any) -> dict[str, Any]:
        """Push the shop's order changes to ``url`` (``shop`` "*": every shop of the platform); options as in
        ``sandbox.pushes`` (duplicate_share, reorder_share, retry_scale, max_attempts, callback_url, seed...)."""
        result: dict[str, Any] = self._call("POST", "/push-targets",
                                            {"platform": platform, "shop": shop, "url": url, **options})
        return result

    def push_targets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/push-targets")["targets"]
        return result

    def remove_push_targets(self, platform: str | None = None, shop: str | None = None) -> int:
        query = "&".join(f"{k}={v}" for k, v in (("platform", platform), ("shop", shop)) if v is not None)
        result: int = self._call("DELETE", f"/push-targets?{query}" if query else "/push-targets")["removed"]
        return result

    def pushes(self, platform: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """What the sandbox pushed: each delivery's message, state (pending, delivered, failed) and answers."""
        query = "&".join(f"{k}={v}" for k, v in (("platform", platform), ("state", state)) if v is not None)
        result: list[dict[str, Any]] = self._call("GET", f"/pushes?{query}" if query else "/pushes")["pushes"]
        return result

    def confirm_cancel(self, platform: str, order_id: str) -> dict[str, Any]:
        """The platform confirms a cancel of ours it had left pending (an order seeded ``cancel_pending``)."""
        result: dict[str, Any] = self._call("POST", f"/orders/{platform}/{order_id}/confirm-cancel")
        return result

    def buyer_cancel(self, platform: str, order_id: str, **spec: Any) -> dict[str, Any]:
        """The buyer asks to cancel the order (``reason``; Lazada ``order_item_ids``); the seller must decide."""
        result: dict[str, Any] = self._call("POST", f"/orders/{platform}/{order_id}/buyer-cancel", spec or None)
        return result

    def fault(self, platform: str, kind: str, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/faults", {"platform": platform, "kind": kind, **spec})
        return result["faults"][0]  # type: ignore[no-any-return]

    def remove_fault(self, fault_id: int) -> dict[str, Any]:
        """Take one fault out by its id (``fault(...)["id"]``); answers it with its final ``hits`` and ``seen``."""
        result: dict[str, Any] = self._call("DELETE", f"/faults/{fault_id}")
        return result["fault"]  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def expire_token(self, platform: str, shop: str, at: float | None = None, *, refresh: bool = False) -> None:
        """Expire the shop's access token (now, or ``at``); ``refresh`` also kills its refresh grant."""
        body: dict[str, Any] = {"platform": platform, "shop": shop}
        if at is not None:
            body["at"] = at
        if refresh:
            body["refresh"] = True
        self._call("POST", "/tokens/expire", body)

    def limits(self, enabled: bool = True, shops: dict[str, tuple[float, float]] | None = None) -> None:
        self._call("POST", "/limits", {"enabled": enabled, "shops": shops or {}})

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result
