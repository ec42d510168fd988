"""Per-process resources: one Redis client, one HTTP session, cached adapters.

Built lazily on first use and rebuilt after a fork, so prefork children never
share a socket with their parent.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cached_property
from typing import Any

import redis
import requests

from cancelq.core.embedded import ensure_server
from cancelq.core.settings import Settings, get_settings
from cancelq.gate.circuits import Circuits, CircuitSettings
from cancelq.gate.delivery import Throttle
from cancelq.gate.limits import DEFAULT_LIMITS, Gate, Limit
from cancelq.jobs.deadletters import DeadLetters
from cancelq.jobs.delayed import Delayed
from cancelq.jobs.ledger import Ledger
from cancelq.platforms.base import Platform
from cancelq.platforms.http import Timeouts, new_session
from cancelq.platforms.registry import build_adapter
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
        self._adapters: dict[tuple[str, str, str], Platform] = {}

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True, health_check_interval=30)

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
    def tokens(self) -> TokenKeeper:
        return TokenKeeper(self)

    @cached_property
    def delayed(self) -> Delayed:
        return Delayed(self.redis, claim_ms=int(max(self.settings.lease_s, 30) * 1000))

    @cached_property
    def session(self) -> requests.Session:
        return new_session(pool_maxsize=128)

    @cached_property
    def gate(self) -> Gate:
        return Gate(self.redis, probe_s=max(self.settings.lease_s, 5.0))

    @cached_property
    def circuits(self) -> Circuits:
        s = self.settings
        return Circuits(self.redis, CircuitSettings(
            shop_threshold=s.circuit_shop_threshold, platform_threshold=s.circuit_platform_threshold,
            open_s=s.circuit_open_s, max_open_s=s.circuit_max_open_s, lock_open_s=s.circuit_lock_open_s,
            window_s=s.circuit_window_s))

    def limit_for(self, shop: Shop) -> Limit:
        """The shop's own limit, else the platform's configured one, else the documented default."""
        if shop.limits:
            return Limit.parse(shop.limits)
        override = self.settings.rate_limits.get(shop.platform)
        return Limit.parse(override) if override else DEFAULT_LIMITS[shop.platform]

    def throttle(self, shop: Shop) -> Throttle:
        return Throttle(self.gate, shop, self.limit_for(shop), short_wait_s=self.settings.short_wait_s,
                        pause_recheck_s=self.settings.pause_recheck_s)

    def adapter(self, shop: Shop) -> Platform:
        """The shop's adapter, rebuilt only when its credentials, endpoint or limit change."""
        fingerprint = json.dumps([shop.credentials, shop.base_url, shop.limits], sort_keys=True)
        key = (shop.platform, shop.name, fingerprint)
        adapter = self._adapters.get(key)
        if adapter is None:
            timeouts = Timeouts(self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s)
            adapter = build_adapter(shop.platform, shop.credentials, base_url=shop.base_url,
                                    session=self.session, timeouts=timeouts, throttle=self.throttle(shop))
            self._adapters = {k: v for k, v in self._adapters.items() if k[:2] != key[:2]}
            self._adapters[key] = adapter
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
