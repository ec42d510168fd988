"""What every platform emulator shares: the order of checks around each call.

A platform module subclasses ``Emulator``: it declares its routes, checks auth
with its own code (never the client's), and renders errors in the platform's
real shape. ``call`` wraps the work of one endpoint with call counting, scripted
faults and the optional rate limits, in the order a real gateway applies them.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import web

from .faults import Fault
from .state import Order, Shop, Store

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class DropConnection(Exception):
    """Raised inside a handler to close the connection without an answer."""


class Unsupported(Exception):
    """A control-API action the platform has no counterpart of (the control API answers 400 with the text)."""


def changed(store: Store, order: Order, kind: str) -> None:
    """Where a buyer's request tells the sandbox's pushes of itself (``kind`` ``buyer_request``): the store's
    ``Store.changed`` hook. A seller's decision is an API write, which ``Emulator.call`` tells of itself."""
    store.changed(order, kind)


class Emulator(ABC):
    platform: ClassVar[str]

    def __init__(self, store: Store) -> None:
        self.store = store

    @abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The platform's real paths."""

    @abstractmethod
    def new_order(self, shop: Shop, order_id: str, spec: dict[str, Any]) -> Order:
        """A realistic order from a seed spec (status, items... in the platform's vocabulary)."""

    @abstractmethod
    def new_shop(self, spec: dict[str, Any]) -> Shop:
        """A shop from its credentials, as the seller's app registration would create it."""

    @abstractmethod
    def render_error(self, fault: Fault) -> web.Response:
        """A scripted error in the platform's own shape and status."""

    @abstractmethod
    def render_rate_limited(self) -> web.Response:
        """What the platform answers when its documented limit is exceeded."""

    @abstractmethod
    def ship(self, order: Order) -> None:
        """Move the order past the point where a seller may cancel it."""

    @abstractmethod
    def cancel_elsewhere(self, order: Order) -> None:
        """A person cancels the order in the seller center: the order reads cancelled, by the seller, and no API
        call of ours did it (``cancels_applied`` counts only cancels made through the API)."""

    def buyer_cancel(self, order: Order, spec: dict[str, Any]) -> None:
        """The buyer asks to cancel ``order`` (``spec``: the platform's optional details, e.g. ``reason``); the
        seller must accept or reject. Platforms without buyer cancel requests refuse."""
        raise Unsupported(f"{self.platform} has no buyer cancel requests (its order APIs offer the seller no "
                          "accept or reject of a buyer's cancellation)")

    def confirm_cancel(self, order: Order) -> None:
        """The platform confirms a cancel of ours it had left pending (Shopee IN_CANCEL); others have none."""
        raise Unsupported(f"{self.platform} leaves no cancel awaiting the platform's confirmation")

    def limit_scope(self, endpoint: str) -> str:
        """The bucket a call counts against: one per shop (and app), unless the platform limits per API."""
        return "*"

    async def call(
        self,
        request: web.Request,
        *,
        shop: Shop,
        endpoint: str,
        order: Order | None,
        act: Callable[[], web.Response],
    ) -> web.StreamResponse:
        """Run one endpoint: count, inject faults, limit, then ``act`` (which applies and answers)."""
        order_id = order.order_id if order else request.query.get("order_id")
        self.store.record(self.platform, shop.ref, endpoint, order)
        hits = self.store.faults.take(self.platform, shop.ref, endpoint, order_id)
        faults: dict[str, Fault] = {f.kind: f for f in hits}
        if "latency" in faults:
            await _held(request, faults["latency"])
        before = {k: f for k, f in faults.items() if not f.after_write}
        early = await self._before(request, before)
        if early is not None:
            return early
        if self.store.over_limit(self.platform, shop, self.limit_scope(endpoint)):
            return self.render_rate_limited()
        before_act = order.fingerprint() if order is not None else ()
        response = act()
        if order is not None and order.fingerprint() != before_act:
            self.store.changed(order, "status")
        after = {k: f for k, f in faults.items() if f.after_write}
        late = await self._before(request, after, response)
        if "ship" in faults and order is not None:
            self.shipped(order)
        return late if late is not None else response

    def shipped(self, order: Order) -> None:
        """``ship``, told to the store's listeners when it changed the order."""
        before = order.fingerprint()
        self.ship(order)
        if order.fingerprint() != before:
            self.store.changed(order, "status")

    def cancel_confirmed(self, order: Order) -> None:
        """``confirm_cancel``, told to the store's listeners."""
        self.confirm_cancel(order)
        self.store.changed(order, "status")

    def cancelled_elsewhere(self, order: Order) -> None:
        """``cancel_elsewhere``, told to the store's listeners when it changed the order."""
        before = order.fingerprint()
        self.cancel_elsewhere(order)
        if order.fingerprint() != before:
            self.store.changed(order, "status")

    async def _before(
        self, request: web.Request, faults: dict[str, Fault], response: web.Response | None = None
    ) -> web.StreamResponse | None:
        if "hang" in faults:
            await asyncio.sleep(faults["hang"].hang_s)
            _drop(request)
        if "drop" in faults:
            _drop(request)
        answer = self._shaped(faults, response)
        if "trickle" in faults:
            fault = faults["trickle"]
            await _trickle(request, fault, answer or response or self.render_error(fault))
        return answer

    def _shaped(self, faults: dict[str, Fault], response: web.Response | None) -> web.Response | None:
        """The answer an ``error``, ``html`` or ``truncate`` fault puts in place of the platform's."""
        if "error" in faults:
            return self.render_error(faults["error"])
        if "html" in faults:
            return web.Response(status=faults["html"].http_status or 502, text=HTML_502, content_type="text/html")
        if "truncate" in faults:
            text = response.text if response is not None and response.text else '{"partial": "answer'
            return web.Response(status=faults["truncate"].http_status or 200, text=text[: max(1, len(text) // 2)],
                                content_type="application/json")
        return None


async def _trickle(request: web.Request, fault: Fault, answer: web.Response) -> None:
    """Send ``answer`` as raw HTTP/1.1 in pieces, then close: the connection carries nothing else."""
    transport = request.transport
    if transport is None:
        raise DropConnection()
    head, body = _raw_http(answer)
    data = head + body
    if not fault.trickle_headers:
        transport.write(head)
        data = body
    size = max(1, fault.trickle_bytes)
    for start in range(0, len(data), size):
        if transport.is_closing():
            break
        transport.write(data[start:start + size])
        await asyncio.sleep(fault.trickle_ms / 1000)
    transport.close()
    raise DropConnection()


def _raw_http(answer: web.Response) -> tuple[bytes, bytes]:
    body = answer.body if isinstance(answer.body, bytes) else (answer.text or "").encode()
    skipped = {"content-length", "connection", "transfer-encoding"}
    lines = [f"HTTP/1.1 {answer.status} {answer.reason}"]
    lines += [f"{k}: {v}" for k, v in answer.headers.items() if k.lower() not in skipped]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1"), body


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
    raise DropConnection()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), content_type="application/json",
        headers=headers,
    )


async def _held(request: web.Request, fault: Fault) -> None:
    """Wait out a latency fault, the caller's port listed in ``fault.holding`` meanwhile."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    port = int(peer[1]) if peer else 0
    fault.holding.append(port)
    try:
        await asyncio.sleep(fault.latency_ms / 1000)
    finally:
        fault.holding.remove(port)
