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
from typing import TYPE_CHECKING

import structlog

from cancelq.core import keys
from cancelq.gate.delivery import Deferred
from cancelq.ops import metrics
from cancelq.platforms.errors import PlatformError, ReauthRequired
from cancelq.platforms.http import Timeouts
from cancelq.platforms.tokens import refresh_tokens
from cancelq.shops.registry import Shop

if TYPE_CHECKING:
    from cancelq.runtime import Runtime

log = structlog.get_logger("cancelq.tokens")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TokenKeeper:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self._release = runtime.redis.register_script(_RELEASE)

    def due(self, shop: Shop, now: float | None = None) -> bool:
        """The token expires within ``refresh_ahead_s``: refresh before using it."""
        if shop.token_expires_at is None:
            return False
        return (now or time.time()) >= shop.token_expires_at - self.settings.refresh_ahead_s

    def refresh(self, shop: Shop, *, seen_token: str) -> Shop:
        """A shop whose token is not ``seen_token`` any more: refreshed by us, or by whoever held the lock."""
        lock, owner = keys.refresh_lock(shop.platform, shop.name), uuid.uuid4().hex
        if not self.rt.redis.set(lock, owner, nx=True, px=int(self.settings.refresh_lock_s * 1000)):
            return self._after_other(shop, lock, seen_token)
        try:
            current = self.rt.shops.get(shop.platform, shop.name, fresh=True) or shop
            if current.access_token != seen_token or current.needs_reauth:
                return current
            return self._refresh(current)
        finally:
            self._release(keys=[lock], args=[owner])

    def _refresh(self, shop: Shop) -> Shop:
        timeouts = Timeouts(self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s)
        try:
            tokens = refresh_tokens(shop.platform, shop.credentials, base_url=shop.base_url,
                                    session=self.rt.session, timeouts=timeouts)
        except ReauthRequired as exc:
            metrics.token_refresh(shop.platform, ok=False)
            self.rt.shops.mark_reauth(shop, f"{exc.code or 'reauth'}: {exc.message}")
            log.error("shop_needs_reauth", platform=shop.platform, shop=shop.name, code=exc.code,
                      request_id=exc.request_id, action="set new credentials: cancelq shops set-token")
            raise
        except PlatformError:
            metrics.token_refresh(shop.platform, ok=False)
            raise
        refreshed = self.rt.shops.set_tokens(shop, tokens.apply(shop.credentials), tokens.expires_at)
        metrics.token_refresh(shop.platform, ok=True)
        log.info("token_refreshed", platform=shop.platform, shop=shop.name, expires_at=tokens.expires_at)
        return refreshed

    def _after_other(self, shop: Shop, lock: str, seen_token: str) -> Shop:
        """Another worker is refreshing: wait for it (briefly), then use what it stored."""
        deadline = time.monotonic() + min(self.settings.refresh_lock_s, 10.0)
        while self.rt.redis.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        current = self.rt.shops.get(shop.platform, shop.name, fresh=True) or shop
        if current.access_token == seen_token and not current.needs_reauth:
            raise Deferred(1.0, "token_refresh")
        return current
