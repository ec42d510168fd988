"""Per-process resources: one Redis client and the stores on it, one HTTP session, cached adapters.

The one object the task and the producers are handed; nothing connects until a store is first used.

Built lazily on first use and rebuilt after a fork, so prefork children never
share a socket with their parent.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from functools import cached_property
from typing import Any

import redis
import requests

from cancelq.core import connections, counters
from cancelq.core.clock import WorkerClock
from cancelq.core.durability import Durable
from cancelq.core.embedded import ensure_server
from cancelq.core.settings import Settings, get_settings
from cancelq.gate.budget import Budget
from cancelq.gate.circuits import Circuits, CircuitSettings
from cancelq.gate.delivery import DeliveryGate, ShopLimits
from cancelq.gate.limits import DEFAULT_LIMITS, Gate, Lease, Limit
from cancelq.jobs.deadletters import DeadLetters
from cancelq.jobs.delayed import Delayed
from cancelq.jobs.events import Events
from cancelq.jobs.ledger import Ledger
from cancelq.jobs.sending import Sender
from cancelq.platforms.base import Platform, Throttle
from cancelq.platforms.errors import ConfigError, PlatformError
from cancelq.platforms.http import Timeouts, new_session
from cancelq.platforms.registry import build_adapter
from cancelq.shops.parking import Parking
from cancelq.shops.registry import Sealer, Shop, ShopRegistry
from cancelq.shops.tokens import TokenKeeper


def resolve_redis_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on first need)."""
    if settings.redis_url:
        return settings.redis_url
    url = ensure_server(settings.data_dir)
    os.environ["CANCELQ_REDIS_URL"] = url
    return url


class Runtime:
    def __init__(self, settings: Settings | None = None, redis_url: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.redis_url = redis_url or resolve_redis_url(self.settings)
        self.worker_name = f"{socket.gethostname()}/{os.getpid()}"
        """Who this process is in the events it appends for itself (a worker names itself at start)."""
        self._adapters: dict[tuple[str, str, str], tuple[Platform, ShopLimits]] = {}
        self._by_identity: dict[tuple[str, str], tuple[Shop, tuple[Platform, ShopLimits]]] = {}

    @cached_property
    def redis(self) -> redis.Redis:
        return connections.client(self.redis_url, decode_responses=True, health_check_interval=30)

    @cached_property
    def ledger(self) -> Ledger:
        s = self.settings
        return Ledger(self.redis, lease_ms=int(s.lease_s * 1000), ttl_s=int(s.ledger_ttl_s),
                      safety_net_ms=int(max(s.lease_s, 30) * 1000))

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.redis, max_entries=self.settings.dlq_max_entries,
                           max_age_ms=int(self.settings.dlq_max_age_s * 1000))

    @cached_property
    def shops(self) -> ShopRegistry:
        key = self.settings.encryption_key
        return ShopRegistry(self.redis, sealer=Sealer(key.get_secret_value() if key else None))

    @cached_property
    def clock(self) -> WorkerClock:
        s = self.settings
        return WorkerClock(offset_s=s.clock_offset_s, warn_s=s.clock_warn_skew_s, hold_s=s.config_recheck_s)

    @cached_property
    def parking(self) -> Parking:
        return Parking(self.redis, self.shops, probe_open_ms=int(self.settings.circuit_open_s * 1000))

    @cached_property
    def tokens(self) -> TokenKeeper:
        return TokenKeeper(self.redis, self.shops, self.session, self.settings, self.timeouts)

    @cached_property
    def delayed(self) -> Delayed:
        return Delayed(self.redis, claim_ms=int(max(self.settings.lease_s, 30) * 1000))

    @cached_property
    def timeouts(self) -> Timeouts:
        """Every platform call's: a total deadline of at most half the lease, so that a call (a trickled answer
        included) ends while its delivery still holds the job; the gate renews the lease a third in."""
        s = self.settings
        total_s = min(s.http_total_timeout_s, s.lease_s / 2)
        return Timeouts(s.http_connect_timeout_s, min(s.http_read_timeout_s, total_s), total_s=total_s)

    @cached_property
    def session(self) -> requests.Session:
        session = new_session(pool_maxsize=128)
        session.hooks["response"].append(self.clock.response_hook)  # the platforms' Date, for the clock watch
        return session

    @cached_property
    def gate(self) -> Gate:
        return Gate(self.redis, probe_s=max(self.settings.lease_s, 5.0), durable=self.durable)

    @cached_property
    def durable(self) -> Durable:
        """The WAIT after a job's in-flight mark and final write (``durable_replicas``; off by default)."""
        return Durable(self.settings.durable_replicas, self.settings.durable_timeout_ms)

    @cached_property
    def circuits(self) -> Circuits:
        s = self.settings
        return Circuits(self.redis, CircuitSettings(
            shop_threshold=s.circuit_shop_threshold, platform_threshold=s.circuit_platform_threshold,
            open_s=s.circuit_open_s, max_open_s=s.circuit_max_open_s, lock_open_s=s.circuit_lock_open_s,
            window_s=s.circuit_window_s))

    @cached_property
    def events(self) -> Events:
        return Events(self.redis, retention_s=self.settings.events_retention_s)

    @cached_property
    def sender(self) -> Sender:
        return Sender(self.settings.broker_url or self.redis_url, self.settings.queue)

    def limit_for(self, shop: Shop) -> Limit:
        """The shop's own limit, else the platform's configured one, else the documented default."""
        if shop.limits:
            return Limit.parse(shop.limits)
        override = self.settings.rate_limits.get(shop.platform)
        return Limit.parse(override) if override else DEFAULT_LIMITS[shop.platform]

    def budget_for(self, shop: Shop) -> Budget | None:
        """The shop's cancellation budget: its own, else its platform's configured one, else none (off)."""
        raw = shop.budget or self.settings.cancel_budgets.get(shop.platform)
        return Budget.parse(f"{shop.platform}/{shop.name}", raw) if raw else None

    def delivery_gate(self, shop: Shop, job_id: str, *, reserve: bool = True) -> DeliveryGate:
        """A fresh gate for one delivery of ``job_id`` (its lease not taken yet). ``reserve`` False for calls that
        are no job's and cannot come back for a reserved slot (the push processor's reads)."""
        s, ledger = self.settings, self.ledger
        return DeliveryGate(self.gate, self._shop_entry(shop)[1], job_id, Lease(ledger.lease_ms, ledger.safety_net_ms),
                            short_wait_s=s.short_wait_s, pause_recheck_s=s.pause_recheck_s,
                            budget_recheck_s=s.budget_recheck_s, reserve=reserve,
                            on_wait=lambda wait_s, why: counters.limiter_wait(shop.platform, wait_s, why=why))

    def adapter(self, shop: Shop, throttle: Throttle | None = None) -> Platform:
        """The shop's adapter calling ``throttle`` (a delivery's gate) before each request."""
        return self._shop_entry(shop)[0].with_throttle(throttle)

    def shop_limits(self, shop: Shop) -> ShopLimits:
        return self._shop_entry(shop)[1]

    def _shop_entry(self, shop: Shop) -> tuple[Platform, ShopLimits]:
        """The shop's adapter and gate scopes, rebuilt only when its credentials, endpoint or limit change.

        The registry hands out the same ``Shop`` object until it changes: that one is found by identity,
        without serialising its credentials again."""
        known = self._by_identity.get((shop.platform, shop.name))
        if known is not None and known[0] is shop:
            return known[1]
        fingerprint = json.dumps([shop.credentials, shop.base_url, shop.limits], sort_keys=True)
        key = (shop.platform, shop.name, fingerprint)
        entry = self._adapters.get(key)
        if entry is None:
            adapter = _build(shop, self.session, self.timeouts, self.clock)
            entry = (adapter, ShopLimits.of(shop.platform, shop.name, shop.credentials, self.limit_for(shop)))
            self._adapters = {k: v for k, v in self._adapters.items() if k[:2] != key[:2]}
            self._adapters[key] = entry
        self._by_identity[(shop.platform, shop.name)] = (shop, entry)
        return entry


def _build(shop: Shop, session: requests.Session, timeouts: Timeouts, clock: WorkerClock) -> Platform:
    """The shop's adapter, signing with this worker's clock; stored credentials it cannot use are a configuration
    fault of the shop (parked), never a crash that the broker redelivers until the job is poison."""
    try:
        adapter = build_adapter(shop.platform, shop.credentials, base_url=shop.base_url, session=session,
                                timeouts=timeouts)
    except (PlatformError, ValueError, TypeError, KeyError) as exc:
        problem = exc.message if isinstance(exc, PlatformError) else str(exc)
        raise ConfigError(f"the shop's stored credentials cannot be used: {problem}", scope="shop",
                          platform=shop.platform, step="credentials", code="invalid_credentials") from None
    if hasattr(adapter, "clock"):  # the adapters that sign timestamps (Shopee, Lazada)
        adapter.clock = clock.now
    return adapter


_lock = threading.Lock()
_runtime: tuple[int, Runtime] | None = None


def get_runtime() -> Runtime:
    global _runtime
    current = _runtime
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _lock:
        if _runtime is None or _runtime[0] != os.getpid():
            _runtime = (os.getpid(), Runtime())
        return _runtime[1]


def reset_runtime(**kwargs: Any) -> None:
    global _runtime
    _runtime = None
