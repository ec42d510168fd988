"""The sandbox application: the four platforms at their real paths, plus a control API.

The control API lives under ``/_sandbox/`` (no platform uses that prefix). It
seeds shops and orders, scripts faults, switches rate limits on, expires tokens
(and kills refresh grants) and reports what each order and shop was asked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import pushes
from .emulator import DropConnection, Emulator, Unsupported, changed, json_response
from .lazada import LazadaEmulator
from .shopee import ShopeeEmulator
from .shoplazza import ShoplazzaEmulator
from .shopline import ShoplineEmulator
from .state import Store

EMULATORS: dict[str, type[Emulator]] = {
    cls.platform: cls for cls in (ShopeeEmulator, LazadaEmulator, ShoplineEmulator, ShoplazzaEmulator)
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE_KEY = web.AppKey("store", Store)
EMULATORS_KEY = web.AppKey("emulators", dict)


class BadRequest(Exception):
    pass


def build_app(store: Store | None = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    store = store or Store()
    emulators = {name: cls(store) for name, cls in EMULATORS.items()}
    app[STORE_KEY] = store
    app[EMULATORS_KEY] = emulators
    for emulator in emulators.values():
        app.add_routes(emulator.routes())
    app.add_routes(_control_routes())
    pushes.install(app, store)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DropConnection:
        raise web.HTTPServiceUnavailable() from None
    except (BadRequest, Unsupported) as exc:
        return json_response({"error": str(exc)}, status=400)
    except (ValueError, KeyError, TypeError) as exc:
        if not request.path.startswith("/_sandbox/"):
            raise
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)


def _control_routes() -> list[web.RouteDef]:
    p = "/_sandbox"
    return [
        web.get(f"{p}/health", _health),
        web.post(f"{p}/reset", _reset),
        web.post(f"{p}/shops", _add_shop),
        web.get(f"{p}/shops/{{platform}}/{{ref}}", _get_shop),
        web.post(f"{p}/orders", _add_orders),
        web.get(f"{p}/orders/{{platform}}/{{order_id}}", _get_order),
        web.post(f"{p}/orders/{{platform}}/{{order_id}}/ship", _ship_order),
        web.post(f"{p}/orders/{{platform}}/{{order_id}}/cancel", _cancel_elsewhere),
        web.post(f"{p}/orders/{{platform}}/{{order_id}}/buyer-cancel", _buyer_cancel),
        web.post(f"{p}/orders/{{platform}}/{{order_id}}/confirm-cancel", _confirm_cancel),
        web.get(f"{p}/orders", _list_orders),
        web.post(f"{p}/faults", _add_fault),
        web.delete(f"{p}/faults", _clear_faults),
        web.delete(f"{p}/faults/{{fault_id}}", _remove_fault),
        web.post(f"{p}/tokens/expire", _expire_token),
        web.post(f"{p}/limits", _set_limits),
        web.get(f"{p}/stats", _stats),
    ]


def _store(request: web.Request) -> Store:
    return request.app[STORE_KEY]


def _emulator(request: web.Request, platform: Any) -> Emulator:
    emulators: dict[str, Emulator] = request.app[EMULATORS_KEY]
    if platform not in emulators:
        raise BadRequest(f"unknown platform {platform!r}; expected one of {', '.join(emulators)}")
    return emulators[platform]


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise BadRequest(f"control API bodies are JSON: {exc}") from None


async def _health(request: web.Request) -> web.Response:
    return json_response({"ok": True, "platforms": sorted(EMULATORS)})


async def _reset(request: web.Request) -> web.Response:
    _store(request).reset()
    return json_response({"ok": True})


async def _add_shop(request: web.Request) -> web.Response:
    spec = await _body(request)
    shop = _emulator(request, spec.get("platform")).new_shop(spec)
    _store(request).add_shop(shop)
    return json_response({"platform": shop.platform, "ref": shop.ref}, status=201)


async def _get_shop(request: web.Request) -> web.Response:
    platform, ref = request.match_info["platform"], request.match_info["ref"]
    shop = _store(request).shops.get((platform, ref))
    if shop is None:
        raise web.HTTPNotFound(text=f"no {platform} shop {ref}")
    return json_response(shop.view())


async def _add_orders(request: web.Request) -> web.Response:
    body = await _body(request)
    specs = body["orders"] if isinstance(body, dict) and "orders" in body else [body]
    store = _store(request)
    created = []
    for spec in specs:
        emulator = _emulator(request, spec.get("platform"))
        shop = store.shops.get((emulator.platform, str(spec.get("shop"))))
        if shop is None:
            raise BadRequest(f"no {emulator.platform} shop {spec.get('shop')!r}: create it first")
        order = emulator.new_order(shop, str(spec["order_id"]), spec)
        store.orders[(order.platform, order.order_id)] = order
        created.append(order.view())
    return json_response({"orders": created}, status=201)


def _find_order(request: web.Request) -> Any:
    platform, order_id = request.match_info["platform"], request.match_info["order_id"]
    order = _store(request).order(platform, order_id)
    if order is None:
        raise web.HTTPNotFound(text=f"no {platform} order {order_id}")
    return order


async def _get_order(request: web.Request) -> web.Response:
    return json_response(_find_order(request).view())


async def _list_orders(request: web.Request) -> web.Response:
    platform = request.query.get("platform")
    orders = [o.view() for o in _store(request).orders.values() if platform in (None, o.platform)]
    return json_response({"orders": orders})


async def _ship_order(request: web.Request) -> web.Response:
    order = _find_order(request)
    _emulator(request, order.platform).shipped(order)
    return json_response(order.view())


async def _cancel_elsewhere(request: web.Request) -> web.Response:
    order = _find_order(request)
    _emulator(request, order.platform).cancelled_elsewhere(order)
    return json_response(order.view())


async def _confirm_cancel(request: web.Request) -> web.Response:
    """The platform confirms a cancel of ours it had left pending (a Shopee order seeded ``cancel_pending``)."""
    order = _find_order(request)
    try:
        _emulator(request, order.platform).cancel_confirmed(order)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(order.view())


async def _buyer_cancel(request: web.Request) -> web.Response:
    """The buyer asks to cancel (Shopee IN_CANCEL; Lazada a reverse order awaiting the seller's decision)."""
    order = _find_order(request)
    spec = await _body(request) if request.can_read_body else {}
    if not isinstance(spec, dict):
        raise BadRequest("a buyer-cancel body is a JSON object (reason, and for Lazada order_item_ids)")
    _emulator(request, order.platform).buyer_cancel(order, spec)
    changed(_store(request), order, "buyer_request")
    return json_response(order.view())


async def _add_fault(request: web.Request) -> web.Response:
    spec = await _body(request)
    specs = spec if isinstance(spec, list) else [spec]
    try:
        faults = [_store(request).faults.add(s) for s in specs]
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    return json_response({"faults": [f.view() for f in faults]}, status=201)


async def _clear_faults(request: web.Request) -> web.Response:
    _store(request).faults.clear()
    return json_response({"ok": True})


async def _remove_fault(request: web.Request) -> web.Response:
    raw = request.match_info["fault_id"]
    fault = _store(request).faults.remove(int(raw)) if raw.isdigit() else None
    if fault is None:
        raise web.HTTPNotFound(text=f"no fault {raw}")
    return json_response({"fault": fault.view()})


async def _expire_token(request: web.Request) -> web.Response:
    spec = await _body(request)
    shop = _store(request).shops.get((str(spec.get("platform")), str(spec.get("shop"))))
    if shop is None:
        raise BadRequest(f"no shop {spec.get('platform')}/{spec.get('shop')}")
    shop.token_expires_at = float(spec.get("at", time.time()))
    if spec.get("refresh"):
        shop.refresh_valid = False  # the next refresh answers the platform's "re-authorize" error
    return json_response({"platform": shop.platform, "ref": shop.ref, "expires_at": shop.token_expires_at,
                          "refresh_valid": shop.refresh_valid})


async def _set_limits(request: web.Request) -> web.Response:
    spec = await _body(request)
    store = _store(request)
    store.rate_limits_on = bool(spec.get("enabled", True))
    for key, (rate, burst) in spec.get("shops", {}).items():
        platform, _, ref = key.partition("/")
        shop = store.shops.get((platform, ref))
        if shop is None:
            raise BadRequest(f"no shop {key}")
        shop.rate_limit = (float(rate), float(burst))
    return json_response({"enabled": store.rate_limits_on})


async def _stats(request: web.Request) -> web.Response:
    return json_response(_store(request).stats())
