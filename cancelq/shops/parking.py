"""Parking the shops a configuration fault implicates, and lifting the park after the fix.

A ``ConfigError`` (a wrong partner key, an undeclared source IP, a banned or frozen shop, credentials that
cannot make an adapter) says no job of its scope can succeed until an operator changes a setting. The first
one parks the scope: the shop (``scope`` "shop") or every shop of the same app or partner key ("app"). The
park is a field of each shop's record, which every job reads already, so checking it costs a job nothing;
the shops' jobs wait without calls and without using attempts. Parking and its one alert (``scope.parked``
in the events) are one script call, so however many workers meet the fault at once, one alert is made.

``lift`` (``cancelq resume --shop``, ``shops add``, ``shops set-token``) clears the park of the shop and of
every shop parked with it, and half-opens their circuits: the next job of each is the probe, the others wait
for its answer (``gate/circuits.py``); a probe that meets the fault again parks the scope again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.gate.circuits import probe_value
from cancelq.gate.limits import app_scope
from cancelq.jobs import events
from cancelq.platforms.errors import ConfigError
from cancelq.shops.registry import Shop, ShopRegistry

ACTIONS = {
    "app": "fix the app's settings (partner key, app secret, declared IPs), then: cancelq resume --shop P/NAME",
    "shop": "fix the shop (credentials, the seller's account), then: cancelq shops add ... or cancelq resume "
            "--shop P/NAME",
}


@dataclass(frozen=True)
class Park:
    """Why a shop is parked: the scope, the app it shares the park with, the platform's code and message."""

    scope: str
    app: str
    code: str
    message: str
    request_id: str | None
    at_ms: int

    @classmethod
    def of(cls, shop: Shop, error: ConfigError) -> Park:
        return cls(error.scope, app_scope(shop.platform, shop.credentials), error.code or "config_fault",
                   error.message[:500], error.request_id, int(time.time() * 1000))

    @classmethod
    def read(cls, text: str) -> Park | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class Parking:
    def __init__(self, client: redis.Redis, registry: ShopRegistry, *, probe_open_ms: int = 30_000) -> None:
        self.r = client
        self.registry = registry
        self.probe_open_ms = probe_open_ms
        self._park = register(client, "cancelq.shops", "park")

    def park(self, shop: Shop, error: ConfigError) -> list[str]:
        """Park the shops ``error`` implicates; the names newly parked ([] when all already were)."""
        if shop.parked:  # parked already (its jobs meet the fault again while they look): nothing to read or say
            return []
        park = Park.of(shop, error)
        targets = self._siblings(shop, park) if park.scope == "app" else [shop]
        data = {"scope": park.scope, "platform": shop.platform, "app": park.app if park.scope == "app" else None,
                "code": park.code, "message": park.message, "request_id": park.request_id,
                "action": ACTIONS.get(park.scope, "")}
        names = self._park(keys=[keys.EVENTS, *(keys.shop(s.platform, s.name) for s in targets)],
                           args=[park.to_json(), events.VERSION, json.dumps(data)])
        for target in targets:
            self.registry.forget(target.platform, target.name)
        return [str(n) for n in names or []]

    def lift(self, shop: Shop) -> list[str]:
        """Lift the park of ``shop`` and of the shops parked with it (same app, app scope); the names lifted.
        Each lifted shop's circuit half-opens, so that one job probes before the others go."""
        park = Park.read(shop.parked)
        if park is None:
            return []
        parked = [s for s in self.registry.all() if s.platform == shop.platform and s.parked]
        targets = [s for s in parked if s.name == shop.name or _same_park(park, Park.read(s.parked))]
        pipe = self.r.pipeline(transaction=True)
        for target in targets:
            pipe.hset(keys.shop(target.platform, target.name), "parked", "")
            pipe.hset(keys.GATE, keys.circuit_field(keys.circuit_name(target.platform, target.name)),
                      probe_value(self.probe_open_ms))
        events.add(pipe, "scope.lifted", {"scope": park.scope, "platform": shop.platform,
                                          "shops": [t.name for t in targets], "code": park.code})
        pipe.execute()
        for target in targets:
            self.registry.forget(target.platform, target.name)
        return [t.name for t in targets]

    def parked(self) -> dict[str, Park]:
        """Every parked shop (``platform/name``) and its park."""
        found = {f"{s.platform}/{s.name}": Park.read(s.parked) for s in self.registry.all() if s.parked}
        return {name: park for name, park in found.items() if park is not None}

    def _siblings(self, shop: Shop, park: Park) -> list[Shop]:
        """The shop and every shop of the same platform sharing its app (partner id, app key, client id)."""
        same = [s for s in self.registry.all() if s.platform == shop.platform and s.name != shop.name
                and app_scope(s.platform, s.credentials) == park.app]
        return [shop, *same]


def _same_park(park: Park, other: Park | None) -> bool:
    return other is not None and park.scope == "app" and other.scope == "app" and other.app == park.app


__all__ = ["Park", "Parking"]
