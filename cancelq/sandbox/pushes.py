"""The sandbox pushing like the platforms: every order change (``Store.changed``) is sent to the push targets
registered for its shop, at least once, from background tasks (an order change never waits for a delivery).

Control API:

- ``POST /_sandbox/push-targets`` {platform, shop ("*": every shop of the platform), url, and options:
  ``callback_url`` (what Shopee signs; default ``url``), ``duplicate_share`` and ``reorder_share`` (0..1: the
  share of messages sent twice, and held back ``reorder_delay_ms`` so that later ones overtake them),
  ``retry_scale`` (the platform's retry schedule times this; default 0.001), ``max_attempts``, ``timeout_s``,
  ``seed`` (of the random draws)}; ``GET`` lists them, ``DELETE ?platform=&shop=`` removes (all, without a query);
- ``GET /_sandbox/pushes[?platform=&state=]``: every delivery (pending, delivered, failed), its attempts and answers.

Retry schedules (after the first attempt), before scaling: Lazada every 30 min up to 12 times (its doc);
Shoplazza 19 times over about 46 h (its doc says 19 over up to 2 days; the steps are ours); SHOPLINE the same
(undocumented here: Shopify's pattern); Shopee 3 times, at 5, 15 and 60 min (our choice: Shopee documents the
lost-push API rather than a schedule). A Shopee push whose attempts all failed is a lost push, listed by
``v2.push.get_lost_push_message`` until confirmed. An answer counts as delivered when it is 2xx within the
timeout (Lazada: 0.5 s, as documented; the others 3 s).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .emulator import json_response
from .push_bodies import BUILDERS, Message
from .state import Order, Store

SHOPLAZZA_STEPS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 3600, 7200, 7200, 10800, 10800, 14400, 18000,
                     21600, 28800, 36000)
SCHEDULES_S: dict[str, tuple[float, ...]] = {
    "lazada": (1800.0,) * 12,
    "shoplazza": tuple(float(s) for s in SHOPLAZZA_STEPS_S),
    "shopline": tuple(float(s) for s in SHOPLAZZA_STEPS_S),
    "shopee": (300.0, 900.0, 3600.0),
}
TIMEOUTS_S = {"lazada": 0.5, "shopee": 3.0, "shopline": 3.0, "shoplazza": 3.0}
KEPT_DELIVERIES = 20_000
"""Past this many, the oldest finished deliveries are forgotten (a long demo run stays small)."""


@dataclass
class Target:
    platform: str
    shop: str
    url: str
    callback_url: str
    duplicate_share: float = 0.0
    reorder_share: float = 0.0
    reorder_delay_ms: float = 100.0
    retry_scale: float = 0.001
    max_attempts: int | None = None
    timeout_s: float | None = None
    random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Target:
        platform, shop, url = str(spec.get("platform", "")), str(spec.get("shop", "")), str(spec.get("url", ""))
        if platform not in BUILDERS or not shop or not url.startswith(("http://", "https://")):
            raise ValueError(f"a push target needs platform (one of {', '.join(BUILDERS)}), shop and an http(s) url")
        target = cls(platform, shop, url, str(spec.get("callback_url") or url))
        for name in ("duplicate_share", "reorder_share", "reorder_delay_ms", "retry_scale", "timeout_s"):
            if spec.get(name) is not None:
                setattr(target, name, float(spec[name]))
        if spec.get("max_attempts") is not None:
            target.max_attempts = max(1, int(spec["max_attempts"]))
        if not (0 <= target.duplicate_share <= 1 and 0 <= target.reorder_share <= 1):
            raise ValueError("duplicate_share and reorder_share are shares: 0 to 1")
        if spec.get("seed") is not None:
            target.random.seed(spec["seed"])
        return target

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "random"}

    def schedule(self) -> list[float]:
        steps = [s * self.retry_scale for s in SCHEDULES_S[self.platform]]
        return steps[: self.max_attempts - 1] if self.max_attempts is not None else steps


@dataclass
class Delivery:
    """One sending of a message to one target (a duplicate is a second delivery of the same message)."""

    id: int
    message: Message
    target: Target
    duplicate: bool = False
    held_ms: float = 0.0
    state: str = "pending"
    answers: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, **self.message.describe(), "url": self.target.url, "duplicate": self.duplicate,
                "held_ms": self.held_ms, "state": self.state, "attempts": len(self.answers),
                "answers": self.answers, "created_at": self.created_at, "finished_at": self.finished_at}


class Pusher:
    """The store's listener that turns order changes into deliveries (``state.Listener``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.targets: list[Target] = []
        self.deliveries: list[Delivery] = []
        self.told: dict[tuple[str, str], dict[str, str]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def reset(self) -> None:
        """Forget targets and deliveries (pending ones are cancelled); the HTTP session stays open."""
        for task in self._tasks:
            task.cancel()
        session = self._session
        self.__init__(self.store)  # type: ignore[misc]
        self._session = session

    def changed(self, order: Order, kind: str) -> None:
        targets = [t for t in self.targets if t.platform == order.platform and t.shop in ("*", order.shop)]
        shop = self.store.shops.get((order.platform, order.shop))
        if not targets or shop is None:
            return
        told = self.told.setdefault((order.platform, order.order_id), {})
        for target in targets:
            for message in BUILDERS[order.platform](shop, order, kind, target.callback_url, told):
                self._send(message, target)

    def _send(self, message: Message, target: Target) -> None:
        copies = 2 if target.random.random() < target.duplicate_share else 1
        for n in range(copies):
            held = target.reorder_delay_ms if target.random.random() < target.reorder_share else 0.0
            delivery = Delivery(next(self._ids), message, target, duplicate=n > 0, held_ms=held)
            if len(self.deliveries) >= KEPT_DELIVERIES:
                older, recent = self.deliveries[:-1000], self.deliveries[-1000:]
                self.deliveries = [d for d in older if d.state == "pending"] + recent
            self.deliveries.append(delivery)
            task = asyncio.get_running_loop().create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery) -> None:
        if delivery.held_ms:
            await asyncio.sleep(delivery.held_ms / 1000)
        for wait_s in [*delivery.target.schedule(), None]:
            if await self._attempt(delivery):
                delivery.state = "delivered"
                break
            if wait_s is None:
                delivery.state = "failed"
                self._lost(delivery)
                break
            await asyncio.sleep(wait_s)
        delivery.finished_at = time.time()

    async def _attempt(self, delivery: Delivery) -> bool:
        target, message = delivery.target, delivery.message
        timeout_s = target.timeout_s or TIMEOUTS_S[target.platform]
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(target.url, data=message.body, headers=message.headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                await response.read()
                delivery.answers.append(str(response.status))
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delivery.answers.append(type(exc).__name__)
            return False

    def _lost(self, delivery: Delivery) -> None:
        if delivery.message.platform == "shopee" and not delivery.duplicate:
            self.store.lost_pushes.append({"id": next(self._ids), "shop_id": int(delivery.message.shop), "code": 3,
                                           "timestamp": int(time.time()), "body": delivery.message.body,
                                           "consumed": False})

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._session is not None:
            await self._session.close()


PUSHER_KEY = web.AppKey("pusher", Pusher)


def control_routes() -> list[web.RouteDef]:
    p = "/_sandbox"
    return [web.post(f"{p}/push-targets", _add_target), web.get(f"{p}/push-targets", _list_targets),
            web.delete(f"{p}/push-targets", _remove_targets), web.get(f"{p}/pushes", _list_pushes)]


def install(app: web.Application, store: Store) -> Pusher:
    """The pusher as the store's listener, its control routes, and its session closed with the app."""
    pusher = Pusher(store)
    store.listeners.append(pusher)
    app[PUSHER_KEY] = pusher
    app.add_routes(control_routes())

    async def close(_: web.Application) -> None:
        await pusher.close()

    app.on_cleanup.append(close)
    return pusher


async def _add_target(request: web.Request) -> web.Response:
    try:
        spec = await request.json()
    except ValueError:
        return json_response({"error": "control API bodies are JSON"}, status=400)
    target = Target.of(spec if isinstance(spec, dict) else {})
    request.app[PUSHER_KEY].targets.append(target)
    return json_response(target.view(), status=201)


async def _list_targets(request: web.Request) -> web.Response:
    return json_response({"targets": [t.view() for t in request.app[PUSHER_KEY].targets]})


async def _remove_targets(request: web.Request) -> web.Response:
    pusher, query = request.app[PUSHER_KEY], request.query
    kept = [t for t in pusher.targets if (query.get("platform") not in (None, t.platform))
            or (query.get("shop") not in (None, t.shop))]
    removed = len(pusher.targets) - len(kept)
    pusher.targets = kept
    return json_response({"removed": removed})


async def _list_pushes(request: web.Request) -> web.Response:
    query = request.query
    shown = [d.view() for d in request.app[PUSHER_KEY].deliveries
             if query.get("platform") in (None, d.message.platform) and query.get("state") in (None, d.state)]
    return json_response({"pushes": shown})
