"""The webhook endpoint store: one Redis hash per endpoint (``keys.webhook``), indexed by ``keys.WEBHOOKS``.

An endpoint has a URL, filters (event type patterns, shops ``P/NAME`` or ``P/*``, a source, a campaign), whether
it is enabled (and why not), since when it has been failing, and its signing secret ``whsec_...``, sealed at
rest with the shop registry's ``Sealer`` (the settings' ``encryption_key``). A rotation keeps the old secret for
a grace period, during which both sign.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from cancelq.core import keys
from cancelq.delivery.urls import UrlRefused, check, host_of
from cancelq.jobs import events
from cancelq.jobs.events import TYPES, Event
from cancelq.jobs.ledger import now_ms
from cancelq.platforms.registry import PLATFORM_NAMES
from cancelq.shops.registry import Sealer

TEST_TYPE = "webhook.test"


class EndpointError(ValueError):
    """An operator's request that changes nothing: an unknown id, a bad filter, a refused URL."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as read (its secrets opened)."""

    id: str
    url: str = field(repr=False)
    events: tuple[str, ...] = ()
    shops: tuple[str, ...] = ()
    source: str = ""
    campaign_id: str = ""
    enabled: bool = True
    disabled_reason: str = ""
    failing_since: int | None = None
    created_at: int = 0
    secret: str = field(default="", repr=False)
    old_secret: str = field(default="", repr=False)
    old_until: int = 0

    @property
    def host(self) -> str:
        return host_of(self.url)

    def signing_secrets(self, at_ms: int) -> list[str]:
        """The secrets that sign now: the current one, and the old one during its grace period."""
        return [self.secret] + ([self.old_secret] if self.old_secret and at_ms < self.old_until else [])

    def wants(self, event: Event) -> bool:
        """Whether the event passes every filter (a test event always does)."""
        if event.type == TEST_TYPE:
            return True
        data = event.data
        if self.events and not any(fnmatch.fnmatchcase(event.type, p) for p in self.events):
            return False
        if self.source and data.get("source") != self.source:
            return False
        if self.campaign_id and data.get("campaign_id") != self.campaign_id:
            return False
        shop = f"{data.get('platform')}/{data.get('shop')}"
        return not self.shops or any(fnmatch.fnmatchcase(shop, s) for s in self.shops)

    def shown(self) -> dict[str, Any]:
        """What ``list``/``show`` print: no secret, no path or query of the URL."""
        return {"id": self.id, "host": self.host, "events": list(self.events), "shops": list(self.shops),
                "source": self.source, "campaign_id": self.campaign_id, "enabled": self.enabled,
                "disabled_reason": self.disabled_reason, "failing_since": self.failing_since,
                "created_at": self.created_at, "rotating_until": self.old_until if self.old_secret else None}


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Type patterns that each match at least one event type (so a typo is refused, not silently empty)."""
    checked = tuple(patterns)
    for pattern in checked:
        if not any(fnmatch.fnmatchcase(t, pattern) for t in TYPES):
            raise EndpointError(f"--events {pattern!r} matches no event type (types: {', '.join(TYPES)})")
    return checked


def check_shops(shops: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(shops)
    for shop in checked:
        platform, _, name = shop.partition("/")
        if platform not in PLATFORM_NAMES or not name:
            raise EndpointError(f"--shop {shop!r} is not PLATFORM/NAME (platforms: {', '.join(PLATFORM_NAMES)})")
    return checked


class Endpoints:
    """Add, read, change and remove endpoints."""

    def __init__(self, client: redis.Redis, sealer: Sealer, *, allow_private: bool = False,
                 grace_s: float = 86400.0) -> None:
        self.r = client
        self.sealer = sealer
        self.allow_private = allow_private
        self.grace_ms = int(grace_s * 1000)
        self._cached: tuple[Any, list[Endpoint]] | None = None

    def add(self, url: str, *, events: Iterable[str] = (), shops: Iterable[str] = (), source: str = "",
            campaign_id: str = "") -> Endpoint:
        """A new enabled endpoint with a new secret (returned once, in the endpoint)."""
        try:
            check(url, allow_private=self.allow_private)
        except UrlRefused as exc:
            raise EndpointError(str(exc)) from None
        endpoint_id = "we_" + secrets.token_hex(8)
        fields: dict[Any, Any] = {
            "id": endpoint_id, "url": self.sealer.seal({"url": url}), "enabled": "1", "created_at": now_ms(),
            "events": json.dumps(check_patterns(events)), "shops": json.dumps(check_shops(shops)),
            "source": source, "campaign_id": campaign_id, "secret": self.sealer.seal({"secret": new_secret()})}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.webhook(endpoint_id), mapping=fields)
        pipe.sadd(keys.WEBHOOKS, endpoint_id)
        pipe.incr(keys.WEBHOOKS_VERSION)
        pipe.execute()
        return self.get(endpoint_id)

    def find(self, endpoint_id: str) -> Endpoint | None:
        h: dict[str, str] = self.r.hgetall(keys.webhook(endpoint_id))  # type: ignore[assignment]
        return self._read(h) if h.get("id") else None

    def get(self, endpoint_id: str) -> Endpoint:
        endpoint = self.find(endpoint_id)
        if endpoint is None:
            raise EndpointError(f"no webhook endpoint {endpoint_id!r} (see `cancelq webhooks list`)")
        return endpoint

    def current(self) -> list[Endpoint]:
        """``all``, read again only when an endpoint changed (one GET of the version counter otherwise)."""
        version = self.r.get(keys.WEBHOOKS_VERSION)
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self.all())
        return self._cached[1]

    def all(self) -> list[Endpoint]:
        ids = sorted(str(i) for i in self.r.smembers(keys.WEBHOOKS))
        pipe = self.r.pipeline(transaction=False)
        for endpoint_id in ids:
            pipe.hgetall(keys.webhook(endpoint_id))
        return [self._read(h) for h in pipe.execute() if h.get("id")]

    def rotate(self, endpoint_id: str) -> Endpoint:
        """A new secret; the old one keeps signing for the grace period."""
        current = self.get(endpoint_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.webhook(endpoint_id), mapping={
            "secret": self.sealer.seal({"secret": new_secret()}),
            "old_secret": self.sealer.seal({"secret": current.secret}), "old_until": now_ms() + self.grace_ms})
        pipe.incr(keys.WEBHOOKS_VERSION)
        pipe.execute()
        return self.get(endpoint_id)

    def enable(self, endpoint_id: str) -> Endpoint:
        self.get(endpoint_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.webhook(endpoint_id), mapping={"enabled": "1", "disabled_reason": ""})
        pipe.hdel(keys.webhook(endpoint_id), "failing_since")
        pipe.incr(keys.WEBHOOKS_VERSION)
        pipe.execute()
        return self.get(endpoint_id)

    def disable(self, endpoint_id: str, reason: str) -> bool:
        """Disable (with why), appending ``webhook.disabled`` to the events in the same transaction; False if it
        was already disabled or is gone."""
        key = keys.webhook(endpoint_id)
        if self.r.hget(key, "enabled") != "1":
            return False
        host = host_of(self.get(endpoint_id).url)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"enabled": "0", "disabled_reason": reason[:300]})
        pipe.incr(keys.WEBHOOKS_VERSION)
        events.add(pipe, "webhook.disabled", {"endpoint": endpoint_id, "host": host, "reason": reason[:300]})
        pipe.execute()
        return True

    def failing(self, endpoint_id: str, at_ms: int) -> int:
        """Mark the endpoint failing since ``at_ms`` unless it already was; since when it has been failing."""
        key = keys.webhook(endpoint_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hsetnx(key, "failing_since", at_ms)
        pipe.hget(key, "failing_since")
        return int(pipe.execute()[1] or at_ms)

    def remove(self, endpoint_id: str) -> None:
        self.get(endpoint_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.webhook(endpoint_id), keys.webhook_log(endpoint_id), keys.webhook_queue(endpoint_id))
        pipe.srem(keys.WEBHOOKS, endpoint_id)
        pipe.zrem(keys.WEBHOOK_DUE, endpoint_id)
        pipe.incr(keys.WEBHOOKS_VERSION)
        pipe.execute()

    def version(self) -> str:
        """Changes whenever an endpoint is added, changed or removed."""
        return str(self.r.get(keys.WEBHOOKS_VERSION) or "0")

    def recent(self, endpoint_id: str, count: int = 20) -> list[dict[str, Any]]:
        """The endpoint's latest attempts, newest first."""
        return [json.loads(entry) for entry in self.r.lrange(keys.webhook_log(endpoint_id), 0, count - 1)]

    def _read(self, h: Mapping[str, str]) -> Endpoint:
        opened = self.sealer.open
        return Endpoint(
            id=h["id"], url=str(opened(h["url"])["url"]), events=tuple(json.loads(h.get("events") or "[]")),
            shops=tuple(json.loads(h.get("shops") or "[]")), source=h.get("source", ""),
            campaign_id=h.get("campaign_id", ""), enabled=h.get("enabled") == "1",
            disabled_reason=h.get("disabled_reason", ""),
            failing_since=int(h["failing_since"]) if h.get("failing_since") else None,
            created_at=int(h.get("created_at") or 0), secret=str(opened(h["secret"])["secret"]),
            old_secret=str(opened(h["old_secret"])["secret"]) if h.get("old_secret") else "",
            old_until=int(h.get("old_until") or 0))
