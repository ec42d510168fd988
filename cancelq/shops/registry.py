"""The shop registry: each shop's platform, endpoint, credentials and token state, kept in Redis.

Jobs name a shop; only the worker turns that name into credentials. Displayed
credentials are always masked; with an encryption key set, they are stored
encrypted (Fernet) so a Redis dump holds no usable secret.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet, InvalidToken

from cancelq.core import keys
from cancelq.core.logging import SECRET_KEYS
from cancelq.jobs import events
from cancelq.platforms.pushes import push_ref
from cancelq.platforms.registry import credential_problem


class ShopError(ValueError):
    pass


@dataclass(frozen=True)
class Shop:
    platform: str
    name: str
    credentials: dict[str, Any] = field(repr=False)
    base_url: str | None = None
    limits: dict[str, Any] | None = None
    token_expires_at: float | None = None
    needs_reauth: str = ""
    """Why the seller must authorise again ("" when not): the shop's jobs wait until new credentials arrive."""
    budget: dict[str, Any] | None = None
    """The shop's cancellation budget (``gate.budget.Budget``: max, per_s, reasons); None: the platform's default."""
    parked: str = ""
    """A configuration fault's park (JSON, ``shops.parking.Park``; "" when none): the shop's jobs wait without
    calls until an operator fixes the setting and lifts it."""
    buyer_requests: dict[str, Any] | None = None
    """What a buyer's request to cancel turns into (``BuyerPolicy``: policy, unless); None: notify."""

    @property
    def buyer_policy(self) -> BuyerPolicy:
        return BuyerPolicy.parse(self.buyer_requests or {})

    @property
    def access_token(self) -> str:
        return str(self.credentials.get("access_token", ""))

    def masked(self) -> dict[str, Any]:
        return {"platform": self.platform, "name": self.name, "base_url": self.base_url, "limits": self.limits,
                "token_expires_at": self.token_expires_at, "needs_reauth": self.needs_reauth,
                "parked": json.loads(self.parked) if self.parked else None, "budget": self.budget,
                "buyer_requests": self.buyer_policy.to_dict(),
                "credentials": mask_credentials(self.credentials)}


BUYER_POLICIES = ("accept", "notify", "ignore")
BUYER_CONDITIONS = ("shipped",)


@dataclass(frozen=True)
class BuyerPolicy:
    """A shop's answer to a buyer's request to cancel: ``accept`` it (an accept job; not when the order is in
    one of the ``unless`` states), ``notify`` (announce only) or ``ignore`` (count only)."""

    policy: str = "notify"
    unless: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> BuyerPolicy:
        """The policy, or ``ShopError`` naming what is wrong."""
        policy = str(raw.get("policy") or "notify")
        unless = tuple(str(c) for c in raw.get("unless") or ())
        if policy not in BUYER_POLICIES:
            raise ShopError(f"--buyer-requests {policy!r}: use one of {', '.join(BUYER_POLICIES)}")
        unknown = [c for c in unless if c not in BUYER_CONDITIONS]
        if unknown:
            raise ShopError(f"--unless {', '.join(unknown)}: the conditions are {', '.join(BUYER_CONDITIONS)}")
        if unless and policy != "accept":
            raise ShopError("--unless qualifies only --buyer-requests accept")
        return cls(policy, unless)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "unless": list(self.unless)}


def mask(value: str) -> str:
    return "***" if len(value) < 10 else f"{value[:3]}…{value[-2:]}"


def mask_credentials(credentials: dict[str, Any]) -> dict[str, Any]:
    return {k: mask(str(v)) if k.lower() in SECRET_KEYS or "secret" in k or "key" in k.lower() else v
            for k, v in credentials.items()}


class Sealer:
    """Encrypts credentials at rest when a key is configured; passes them through otherwise."""

    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(key.encode()) if key else None

    def seal(self, credentials: dict[str, Any]) -> str:
        text = json.dumps(credentials)
        return "fernet:" + self._fernet.encrypt(text.encode()).decode() if self._fernet else text

    def open(self, stored: str) -> dict[str, Any]:
        if not stored.startswith("fernet:"):
            loaded: dict[str, Any] = json.loads(stored)
            return loaded
        if self._fernet is None:
            raise ShopError("shop credentials are encrypted: set CANCELQ_ENCRYPTION_KEY")
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(stored[7:].encode()))
        except InvalidToken:
            raise ShopError("shop credentials do not open with this CANCELQ_ENCRYPTION_KEY") from None
        return opened


class ShopRegistry:
    def __init__(self, client: redis.Redis, *, cache_s: float = 2.0, sealer: Sealer | None = None) -> None:
        self.r = client
        self.cache_s = cache_s
        self.sealer = sealer or Sealer(None)
        self._cache: dict[tuple[str, str], tuple[float, Shop | None]] = {}
        self._refs: dict[tuple[str, str], tuple[float, str]] = {}

    def add(self, platform: str, name: str, credentials: dict[str, Any], base_url: str | None = None,
            limits: dict[str, Any] | None = None, token_expires_at: float | None = None) -> Shop:
        """Add or replace a shop; new credentials also clear a "needs re-auth" mark and the shop's own park.

        The credentials are checked first, as the platform's adapter reads them (the fields it needs, their
        types) and the base URL's form: a shop that could not make one call is refused, nothing stored."""
        if not name or "/" in name:
            raise ShopError("a shop needs a name without '/'")
        problem = credential_problem(platform, credentials, base_url)
        if problem:
            raise ShopError(f"{platform}/{name}: {problem}")
        shop = Shop(platform, name, dict(credentials), base_url, limits, token_expires_at)
        self._write(shop, parked="")
        self.r.sadd(keys.SHOPS, f"{platform}/{name}")
        ref = push_ref(platform, shop.credentials)
        if ref:
            self.r.hset(keys.SHOP_PUSH_REFS, f"{platform}|{ref}", name)
        return shop

    def _write(self, shop: Shop, **more: str) -> None:
        """Write the shop's record. Its park and budget are written only when named in ``more``: a copy of the
        shop read before a park (a token refresh's) must not lift it, nor new credentials drop a budget."""
        fields: dict[Any, Any] = {
            "platform": shop.platform, "name": shop.name, "base_url": shop.base_url or "",
            "limits": json.dumps(shop.limits or {}), "credentials": self.sealer.seal(shop.credentials),
            "token_expires_at": shop.token_expires_at or "", "needs_reauth": shop.needs_reauth,
            "updated_at": int(time.time()),
        }
        fields.update(more)
        self.r.hset(keys.shop(shop.platform, shop.name), mapping=fields)
        self._cache.pop((shop.platform, shop.name), None)

    def get(self, platform: str, name: str, *, fresh: bool = False) -> Shop | None:
        cached = self._cache.get((platform, name))
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        h: dict[str, str] = self.r.hgetall(keys.shop(platform, name))  # type: ignore[assignment]
        shop = self._decode(platform, name, h) if h else None
        self._cache[(platform, name)] = (time.monotonic(), shop)
        return shop

    def _decode(self, platform: str, name: str, h: dict[str, str]) -> Shop:
        return Shop(platform, name, self.sealer.open(h["credentials"]), h.get("base_url") or None,
                    json.loads(h.get("limits") or "{}") or None,
                    float(h["token_expires_at"]) if h.get("token_expires_at") else None,
                    h.get("needs_reauth", ""), json.loads(h["budget"]) if h.get("budget") else None,
                    h.get("parked", ""), json.loads(h["buyer_requests"]) if h.get("buyer_requests") else None)

    def set_tokens(self, shop: Shop, credentials: dict[str, Any], expires_at: float | None) -> Shop:
        """Store new tokens (a refresh, or an operator's new grant): the shop no longer needs re-auth."""
        updated = replace(shop, credentials=credentials, token_expires_at=expires_at, needs_reauth="")
        self._write(updated)
        return updated

    def set_budget(self, shop: Shop, budget: dict[str, Any] | None) -> Shop:
        """The shop's cancellation budget (None: the platform's default); everything else stays."""
        updated = replace(shop, budget=budget)
        self._write(updated, budget=json.dumps(budget) if budget else "")
        return updated

    def set_buyer_policy(self, shop: Shop, policy: BuyerPolicy) -> Shop:
        """The shop's answer to buyers' cancel requests; everything else stays."""
        updated = replace(shop, buyer_requests=policy.to_dict())
        self._write(updated, buyer_requests=json.dumps(updated.buyer_requests))
        return updated

    def set_limits(self, shop: Shop, limits: dict[str, Any] | None) -> Shop:
        """A new rate limit for the shop; its tokens, re-auth mark and park stay as they are."""
        updated = replace(shop, limits=limits)
        self._write(updated)
        return updated

    def mark_reauth(self, shop: Shop, reason: str) -> Shop:
        updated = replace(shop, needs_reauth=reason or "re-authorisation required")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.shop(shop.platform, shop.name), "needs_reauth", updated.needs_reauth)
        events.add(pipe, "shop.needs_reauth", {"platform": shop.platform, "shop": shop.name,
                                               "reason": updated.needs_reauth,
                                               "action": "set new credentials: cancelq shops set-token"})
        pipe.execute()
        self._cache.pop((shop.platform, shop.name), None)
        return updated

    def by_push_ref(self, platform: str, ref: str) -> Shop | None:
        """The shop a platform's push names by the platform's own id (``platforms.pushes.push_ref``): one HGET in
        the index ``add`` keeps, then the (cached) shop; an entry left by credentials since changed finds nothing."""
        cached = self._refs.get((platform, ref))
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            name: Any = cached[1]
        else:
            name = self.r.hget(keys.SHOP_PUSH_REFS, f"{platform}|{ref}")
            if name is None and not self.r.exists(keys.SHOP_PUSH_REFS_BUILT):
                self.index_push_refs()
                name = self.r.hget(keys.SHOP_PUSH_REFS, f"{platform}|{ref}")
            if name is None:
                return None
            name = name.decode() if isinstance(name, bytes) else str(name)
            if len(self._refs) > 10_000:
                self._refs.clear()
            self._refs[(platform, ref)] = (time.monotonic(), name)
        shop = self.get(platform, name)
        if shop is None or push_ref(platform, shop.credentials) != ref:
            return None
        return shop

    def index_push_refs(self) -> int:
        """Index every stored shop by its push id (shops stored before the index existed); how many were."""
        indexed: dict[str, str] = {}
        for entry in self.names():
            try:
                shop = self.get(*entry.split("/", 1), fresh=True)
            except ShopError:  # credentials this process cannot open: that shop's pushes stay unknown
                continue
            if shop is None:
                continue
            ref = push_ref(shop.platform, shop.credentials)
            if ref:
                indexed[f"{shop.platform}|{ref}"] = shop.name
        pipe = self.r.pipeline(transaction=True)
        if indexed:
            pipe.hset(keys.SHOP_PUSH_REFS, mapping=indexed)  # type: ignore[arg-type]
        pipe.set(keys.SHOP_PUSH_REFS_BUILT, "1")
        pipe.execute()
        return len(indexed)

    def forget(self, platform: str, name: str) -> None:
        """Drop this process's cached copy of a shop (a script changed its record)."""
        self._cache.pop((platform, name), None)

    def names(self) -> list[str]:
        """Every shop as ``platform/name``, sorted."""
        return sorted(str(n) for n in self.r.smembers(keys.SHOPS))

    def remove(self, platform: str, name: str) -> bool:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.shop(platform, name))
        pipe.srem(keys.SHOPS, f"{platform}/{name}")
        removed = bool(pipe.execute()[0])
        self._cache.pop((platform, name), None)
        self._refs = {k: v for k, v in self._refs.items() if (k[0], v[1]) != (platform, name)}
        return removed

    def all(self) -> list[Shop]:
        names = sorted(str(n) for n in self.r.smembers(keys.SHOPS))
        shops = (self.get(*n.split("/", 1), fresh=True) for n in names)
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
                                      entry.get("limits"), entry.get("token_expires_at")))
            except KeyError as exc:
                raise ShopError(f"{path}: shop #{i} lacks {exc.args[0]!r}") from None
        return added
