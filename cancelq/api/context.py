"""What every route is handed: one process's runtime, the Python API on it, the key store, a short key cache."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from fastapi import Request

from cancelq.api.apikeys import ApiKey, ApiKeys, digest
from cancelq.api.idempotency import Idempotency
from cancelq.client import CancelQ
from cancelq.core.settings import Settings
from cancelq.gate.limits import Limit
from cancelq.runtime import Runtime


@dataclass
class Api:
    """The app's state (``app.state.api``); built by ``make_app``, nothing connects until a request needs it."""

    rt: Runtime
    client: CancelQ
    keys: ApiKeys
    idempotency: Idempotency
    limit: Limit
    _cache: dict[str, tuple[float, ApiKey]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, rt: Runtime) -> Api:
        s = rt.settings
        return cls(rt, CancelQ(rt), ApiKeys(rt.redis), Idempotency(rt.redis, ttl_s=s.api_idempotency_ttl_s),
                   Limit(s.api_key_rate_per_s, s.api_key_burst))

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    def verify(self, token: str) -> ApiKey | None:
        """The key, from the cache while it is fresh (``api_key_cache_s``), else checked against the store."""
        hashed, now = digest(token), time.monotonic()
        cached = self._cache.get(hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = self.keys.verify(token)
        with self._lock:
            if key is None:
                self._cache.pop(hashed, None)
            else:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[hashed] = (now + self.settings.api_key_cache_s, key)
        return key


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api
