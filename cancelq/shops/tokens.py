"""Keeping shops' access tokens fresh: ahead of expiry and on an auth-expired answer.

A refresh runs under a per-shop lock, so two workers never spend the same
refresh token (Shopee's are single-use). The worker that loses the race waits
for the lock, re-reads the stored token and goes on with it. A refresh the
platform refuses for good marks the shop "needs re-auth": its jobs wait (they
are not dead), one alert line is logged, and they resume when an operator sets
new credentials (``cancelq shops set-token``).
"""

from __future__ import annotations

import time
import uuid

import redis
import requests
import structlog

from cancelq.core import counters, keys
from cancelq.core.lua import register
from cancelq.core.settings import Settings
from cancelq.gate.delivery import Deferred
from cancelq.platforms.errors import PlatformError, ReauthRequired
from cancelq.platforms.http import Timeouts
from cancelq.platforms.tokens import refresh_tokens
from cancelq.shops.registry import Shop, ShopRegistry

log = structlog.get_logger("cancelq.tokens")

class TokenKeeper:
    def __init__(self, client: redis.Redis, shops: ShopRegistry, session: requests.Session,
                 settings: Settings, timeouts: Timeouts) -> None:
        self.r = client
        self.shops = shops
        self.session = session
        self.settings = settings
        self.timeouts = timeouts
        self._release = register(client, "cancelq.shops", "release")

    def due(self, shop: Shop, now: float | None = None) -> bool:
        """The token expires within ``refresh_ahead_s``: refresh before using it."""
        if shop.token_expires_at is None:
            return False
        return (now or time.time()) >= shop.token_expires_at - self.settings.refresh_ahead_s

    def refresh(self, shop: Shop, *, seen_token: str) -> Shop:
        """A shop whose token is not ``seen_token`` any more: refreshed by us, or by whoever held the lock."""
        lock, owner = keys.refresh_lock(shop.platform, shop.name), uuid.uuid4().hex
        if not self.r.set(lock, owner, nx=True, px=int(self.settings.refresh_lock_s * 1000)):
            return self._after_other(shop, lock, seen_token)
        try:
            current = self.shops.get(shop.platform, shop.name, fresh=True) or shop
            if current.access_token != seen_token or current.needs_reauth:
                return current
            return self._refresh(current)
        finally:
            self._release(keys=[lock], args=[owner])

    def _refresh(self, shop: Shop) -> Shop:
        try:
            tokens = refresh_tokens(shop.platform, shop.credentials, base_url=shop.base_url,
                                    session=self.session, timeouts=self.timeouts)
        except ReauthRequired as exc:
            counters.token_refresh(shop.platform, ok=False)
            self.shops.mark_reauth(shop, f"{exc.code or 'reauth'}: {exc.message}")
            log.error("shop_needs_reauth", platform=shop.platform, shop=shop.name, code=exc.code,
                      request_id=exc.request_id, action="set new credentials: cancelq shops set-token")
            raise
        except PlatformError:
            counters.token_refresh(shop.platform, ok=False)
            raise
        refreshed = self.shops.set_tokens(shop, tokens.apply(shop.credentials), tokens.expires_at)
        counters.token_refresh(shop.platform, ok=True)
        log.info("token_refreshed", platform=shop.platform, shop=shop.name, expires_at=tokens.expires_at)
        return refreshed

    def _after_other(self, shop: Shop, lock: str, seen_token: str) -> Shop:
        """Another worker is refreshing: wait for it (briefly), then use what it stored."""
        deadline = time.monotonic() + min(self.settings.refresh_lock_s, 10.0)
        while self.r.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        current = self.shops.get(shop.platform, shop.name, fresh=True) or shop
        if current.access_token == seen_token and not current.needs_reauth:
            raise Deferred(1.0, "token_refresh")
        return current
