"""API keys: made once, stored only as a hash, with scopes and shop patterns; listed and revoked by name.

A key reads ``cqk_<id>_<secret>``: the id finds its record (``keys.apikey``), the SHA-256 of the whole key is
compared in constant time. The secret has 192 bits, so a fast hash is enough (a slow one guards guessable
passwords, not random tokens). The whole key is shown once, when it is made; nothing else ever holds it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from cancelq.core import keys
from cancelq.jobs.ledger import now_ms
from cancelq.platforms.registry import PLATFORM_NAMES

PREFIX = "cqk_"
SCOPES = ("jobs:write", "jobs:read", "events:read", "campaigns:write", "deadletters:replay", "webhooks:manage")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TOKEN = re.compile(r"^cqk_([0-9a-f]{16})_([0-9a-f]{48})$")


class ApiKeyError(ValueError):
    """A request about keys that changes nothing: a bad name, scope or shop pattern, an unknown key."""


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    shops: tuple[str, ...] = ()
    created_at: int = 0
    revoked_at: int | None = None

    def allows_shop(self, platform: str, shop: str) -> bool:
        """No patterns: every shop; else ``platform/name`` matches one (``lazada/*``)."""
        return not self.shops or any(fnmatch.fnmatchcase(f"{platform}/{shop}", p) for p in self.shops)

    @property
    def all_shops(self) -> bool:
        return not self.shops

    def shown(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "shops": list(self.shops),
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = [s for s in checked if s not in SCOPES]
    if unknown or not checked:
        raise ApiKeyError(f"scopes {', '.join(unknown) or '(none)'} unknown; choose from {', '.join(SCOPES)}")
    return checked


def check_shops(shops: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(s.strip() for s in shops if s.strip()))
    for pattern in checked:
        platform, _, name = pattern.partition("/")
        if platform not in PLATFORM_NAMES or not name:
            raise ApiKeyError(f"shop {pattern!r} is not PLATFORM/NAME or PLATFORM/* "
                              f"(platforms: {', '.join(PLATFORM_NAMES)})")
    return checked


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKeys:
    """Create, verify, list and revoke keys."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def create(self, name: str, scopes: Iterable[str], shops: Iterable[str] = ()) -> tuple[ApiKey, str]:
        """A new key: (its record, the whole key, to be shown this once)."""
        if not NAME.match(name):
            raise ApiKeyError(f"name {name!r}: 1-64 letters, digits, '.', '_' or '-'")
        checked_scopes, checked_shops = check_scopes(scopes), check_shops(shops)
        key_id, secret = secrets.token_hex(8), secrets.token_hex(24)
        token = f"{PREFIX}{key_id}_{secret}"
        if not self.r.hsetnx(keys.APIKEYS, name, key_id):
            raise ApiKeyError(f"an API key named {name!r} exists (revoke it first, or pick another name)")
        self.r.hset(keys.apikey(key_id), mapping={
            "id": key_id, "name": name, "hash": digest(token), "scopes": json.dumps(checked_scopes),
            "shops": json.dumps(checked_shops), "created_at": now_ms()})
        return self._read(self.r.hgetall(keys.apikey(key_id))), token  # type: ignore[arg-type]

    def verify(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or None (malformed, unknown, wrong secret, revoked): callers cannot tell which."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        h: dict[str, str] = self.r.hgetall(keys.apikey(match.group(1)))  # type: ignore[assignment]
        if not h or h.get("revoked_at") or not hmac.compare_digest(h.get("hash", ""), digest(token)):
            return None
        return self._read(h)

    def all(self) -> list[ApiKey]:
        ids = sorted(str(v) for v in self.r.hvals(keys.APIKEYS))
        pipe = self.r.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(keys.apikey(key_id))
        return sorted((self._read(h) for h in pipe.execute() if h), key=lambda k: k.name)

    def revoke(self, name: str) -> ApiKey:
        """Revoke the key of that name (its record stays, marked revoked; the name is free again)."""
        key_id = self.r.hget(keys.APIKEYS, name)
        if not key_id:
            raise ApiKeyError(f"no API key named {name!r} (see `cancelq apikeys list`)")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.apikey(str(key_id)), "revoked_at", now_ms())
        pipe.hdel(keys.APIKEYS, name)
        pipe.execute()
        return self._read(self.r.hgetall(keys.apikey(str(key_id))))  # type: ignore[arg-type]

    @staticmethod
    def _read(h: dict[str, str]) -> ApiKey:
        return ApiKey(id=h["id"], name=h["name"], scopes=tuple(json.loads(h.get("scopes") or "[]")),
                      shops=tuple(json.loads(h.get("shops") or "[]")), created_at=int(h.get("created_at") or 0),
                      revoked_at=int(h["revoked_at"]) if h.get("revoked_at") else None)
