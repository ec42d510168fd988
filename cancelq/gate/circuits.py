"""Circuit breakers per (platform, shop) and per platform.

A circuit opens after ``threshold`` transient failures in a row (no job of the
shop ended well between them, and none is older than the window), or at once on
a store lock, so one broken shop does not burn the fleet's capacity or the
app's success rate. While open, the shop's jobs wait (they are not dead). When
it half-opens, the gate (``ratelimit.py``) lets exactly one probe through; the
probe's success closes it, its failure opens it again for twice as long.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.jobs import events


@dataclass(frozen=True)
class CircuitSettings:
    shop_threshold: int = 5
    platform_threshold: int = 25
    open_s: float = 30.0
    max_open_s: float = 900.0
    lock_open_s: float = 600.0
    window_s: float = 60.0
    """Failures further apart than this do not add up: the count expires."""


class Circuits:
    def __init__(self, client: redis.Redis, settings: CircuitSettings | None = None) -> None:
        self.r = client
        self.settings = settings or CircuitSettings()
        self._fail = register(client, "cancelq.gate", "fail")

    @staticmethod
    def names_for(platform: str, shop: str) -> list[str]:
        return [keys.circuit_name(platform, shop), keys.circuit_name(platform)]

    def reset(self, pipe: redis.client.Pipeline, platform: str, shop: str) -> None:
        """A job ended well: the failure counts start again (queued on the caller's pipeline)."""
        pipe.hdel(keys.GATE, *(keys.fail_field(n) for n in self.names_for(platform, shop)))

    def success(self, platform: str, shop: str) -> None:
        """A probe went through: both circuits close (and ``circuit.closed`` is appended to the events)."""
        names = self.names_for(platform, shop)
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(keys.GATE, *(keys.circuit_field(n) for n in names), *(keys.fail_field(n) for n in names))
        events.add(pipe, "circuit.closed", {"platform": platform, "shop": shop, "circuits": names})
        pipe.execute()

    def close(self, name: str) -> bool:
        """An operator closes one circuit (``platform`` or ``platform:shop``) after a fix; False if it was not
        open. ``circuit.closed`` is appended to the events in the same transaction."""
        platform, _, shop = name.partition(":")
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(keys.GATE, keys.circuit_field(name), keys.fail_field(name))
        events.add(pipe, "circuit.closed", {"platform": platform, "shop": shop, "circuits": [name], "by": "operator"})
        return bool(pipe.execute()[0])

    def failure(self, platform: str, shop: str, *, store_locked: bool = False) -> bool:
        """A transient failure; True when this opened the shop's circuit."""
        s = self.settings
        shop_circuit, platform_circuit = self.names_for(platform, shop)
        opened = self._count(shop_circuit, s.shop_threshold, s.lock_open_s if store_locked else s.open_s,
                             force=store_locked)
        if not store_locked:
            self._count(platform_circuit, s.platform_threshold, s.open_s, force=False)
        return opened

    def _count(self, name: str, threshold: int, open_s: float, *, force: bool) -> bool:
        s = self.settings
        platform, _, shop = name.partition(":")
        event = json.dumps({"platform": platform, "shop": shop or None, "circuit": name,
                            "store_locked": force})
        return bool(self._fail(keys=[keys.GATE, keys.EVENTS], args=[
            keys.circuit_field(name), keys.fail_field(name), threshold, int(open_s * 1000), int(s.max_open_s * 1000),
            "1" if force else "0", int(s.window_s * 1000), event, events.VERSION]))
