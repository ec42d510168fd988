"""The shop registry: each shop's platform, endpoint and credentials, kept in Redis.

Jobs name a shop; only the worker turns that name into credentials. Displayed
credentials are always masked.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from cancelq.platforms.registry import PLATFORM_NAMES

from . import keys
from .logging import SECRET_KEYS


class ShopError(ValueError):
    pass


@dataclass(frozen=True)
class Shop:
    platform: str
    name: str
    credentials: dict[str, Any] = field(repr=False)
    base_url: str | None = None
    limits: dict[str, Any] | None = None

    def masked(self) -> dict[str, Any]:
        return {"platform": self.platform, "name": self.name, "base_url": self.base_url, "limits": self.limits,
                "credentials": mask_credentials(self.credentials)}


def mask(value: str) -> str:
    return "***" if len(value) < 10 else f"{value[:3]}…{value[-2:]}"


def mask_credentials(credentials: dict[str, Any]) -> dict[str, Any]:
    return {k: mask(str(v)) if k.lower() in SECRET_KEYS or "secret" in k or "key" in k.lower() else v
            for k, v in credentials.items()}


class ShopRegistry:
    def __init__(self, client: redis.Redis, *, cache_s: float = 2.0) -> None:
        self.r = client
        self.cache_s = cache_s
        self._cache: dict[tuple[str, str], tuple[float, Shop | None]] = {}

    def add(self, platform: str, name: str, credentials: dict[str, Any], base_url: str | None = None,
            limits: dict[str, Any] | None = None) -> Shop:
        if platform not in PLATFORM_NAMES:
            raise ShopError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORM_NAMES)}")
        if not name:
            raise ShopError("a shop needs a name")
        shop = Shop(platform, name, dict(credentials), base_url, limits)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.shop(platform, name), mapping={
            "platform": platform, "name": name, "base_url": base_url or "", "limits": json.dumps(limits or {}),
            "credentials": json.dumps(credentials), "updated_at": int(time.time()),
        })
        pipe.sadd(keys.SHOPS, f"{platform}/{name}")
        pipe.execute()
        self._cache.pop((platform, name), None)
        return shop

    def get(self, platform: str, name: str) -> Shop | None:
        cached = self._cache.get((platform, name))
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        h: dict[str, str] = self.r.hgetall(keys.shop(platform, name))  # type: ignore[assignment]
        shop = Shop(platform, name, json.loads(h["credentials"]), h.get("base_url") or None,
                    json.loads(h.get("limits") or "{}") or None) if h else None
        self._cache[(platform, name)] = (time.monotonic(), shop)
        return shop

    def remove(self, platform: str, name: str) -> bool:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.shop(platform, name))
        pipe.srem(keys.SHOPS, f"{platform}/{name}")
        removed = bool(pipe.execute()[0])
        self._cache.pop((platform, name), None)
        return removed

    def all(self) -> list[Shop]:
        names = sorted(str(n) for n in self.r.smembers(keys.SHOPS))
        shops = (self.get(*n.split("/", 1)) for n in names)
        return [s for s in shops if s is not None]

    def load_file(self, path: Path) -> list[Shop]:
        """Load shops from JSON (a list) or TOML (``[[shops]]`` tables): platform, name, base_url, credentials."""
        text = path.read_bytes()
        entries = tomllib.loads(text.decode())["shops"] if path.suffix == ".toml" else json.loads(text)
        if isinstance(entries, dict):
            entries = entries.get("shops", [])
        added = []
        for i, entry in enumerate(entries, 1):
            try:
                added.append(self.add(entry["platform"], entry["name"], entry["credentials"], entry.get("base_url"),
                                      entry.get("limits")))
            except KeyError as exc:
                raise ShopError(f"{path}: shop #{i} lacks {exc.args[0]!r}") from None
        return added
