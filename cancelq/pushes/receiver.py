"""What the push receiver does with one request, apart from HTTP: find the shop, verify, parse, keep, count.

The order of checks is forced by the signatures: a push names its shop before anyone can trust it (the shop id
in Shopee's and Lazada's body, the domain header of Shopline and Shoplazza), that shop's secret is the only key
to verify it with, and only a verified body is parsed for what it says. Whatever is refused is kept as a
``Rejection`` (never its signature or body) and counted; a duplicate is answered like a first delivery, so that
the platform stops sending it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from cancelq.core.logging import get_logger
from cancelq.platforms.pushes import FORMATS, REF_FIELDS, Push, PushFormat, Unparseable
from cancelq.pushes import counts
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.store import PushStore, Rejection
from cancelq.shops.registry import Shop, ShopRegistry

STATUS = {"unknown_platform": 404, "unknown_shop": 404, "unparseable": 400, "unverifiable": 401, "unsigned": 401,
          "bad_signature": 401}
log = get_logger("cancelq.pushes")


@dataclass(frozen=True)
class Outcome:
    """``result``: accepted, duplicate, ignored (a verified push that tells nothing of orders) or rejected;
    ``status`` the HTTP status to answer; ``reason`` and ``detail`` of a rejection."""

    status: int
    result: str
    reason: str = ""
    detail: str = ""
    entry: str | None = None


class Refused(Exception):
    def __init__(self, reason: str, detail: str, claimed: str = "") -> None:
        super().__init__(detail)
        self.reason, self.detail, self.claimed = reason, detail, claimed


class Receiver:
    """One per API process; ``push_public_url`` is the base of the callback URLs registered at the platforms."""

    def __init__(self, client: redis.Redis, shops: ShopRegistry, *, push_public_url: str) -> None:
        self.redis = client
        self.shops = shops
        self.store = PushStore(client)
        self.base_url = push_public_url.rstrip("/")

    def callback_url(self, platform: str) -> str:
        return f"{self.base_url}/pushes/{platform}"

    def receive(self, platform: str, headers: Mapping[str, str], body: bytes, remote: str) -> Outcome:
        """Handle one push (header names lowercased). Raises ``redis.RedisError`` when Redis is unreachable."""
        received_ms = int(time.time() * 1000)
        fmt = FORMATS.get(platform)
        try:
            if fmt is None:
                raise Refused("unknown_platform", f"no platform {platform!r}: cancelq takes pushes from "
                                                  f"{', '.join(FORMATS)}")
            push = self._verified(fmt, headers, body)
        except Refused as refused:
            return self._refuse(platform if fmt else "unknown", refused, body, remote)
        if push is None:
            counts.count(self.redis, platform, "ignored")
            return Outcome(200, "ignored")
        shop, parsed = push
        notice = PushNotice(platform=platform, shop=shop.name, order_id=parsed.order_id,
                            kind="buyer_request" if parsed.buyer_request else "status", status=parsed.status,
                            message_id=parsed.message_id, pushed_at_ms=parsed.pushed_at_ms, received_ms=received_ms)
        entry = self.store.receive(notice, minute_key=counts.window_key(received_ms / 1000),
                                   minute_ttl_s=counts.WINDOW_TTL_S)
        return Outcome(200, "accepted" if entry is not None else "duplicate", entry=entry)

    def _verified(self, fmt: PushFormat, headers: Mapping[str, str], body: bytes) -> tuple[Shop, Push] | None:
        try:
            ref = fmt.shop_ref(headers, body)
        except Unparseable as exc:
            raise Refused("unparseable", str(exc)) from None
        shop = self.shops.by_push_ref(fmt.platform, ref) if ref else self._app_shop(fmt, headers, body)
        if shop is None:
            raise Refused("unknown_shop", f"no {fmt.platform} shop is registered with the {REF_FIELDS[fmt.platform]} "
                                          "this push names (cancelq shops add)", claimed=ref)
        problem = fmt.secret_problem(shop.credentials)
        if problem:
            raise Refused("unverifiable", f"{problem}: its pushes cannot be verified", claimed=ref)
        if fmt.signs_callback_url and not self.base_url:
            raise Refused("unverifiable", f"push_public_url is not set, and {fmt.platform} signs its callback URL",
                          claimed=ref)
        if not headers.get(fmt.signature_header):
            raise Refused("unsigned", f"the push has no {fmt.signature_header} header", claimed=ref)
        if not fmt.verify(shop.credentials, headers, body, callback_url=self.callback_url(fmt.platform)):
            raise Refused("bad_signature", "the push's signature does not match its body", claimed=ref)
        try:
            parsed = fmt.parse(headers, body)
        except Unparseable as exc:
            raise Refused("unparseable", str(exc), claimed=ref) from None
        return None if parsed is None else (shop, parsed)

    def _app_shop(self, fmt: PushFormat, headers: Mapping[str, str], body: bytes) -> Shop | None:
        """For a partner-level push (rare: it names no shop), the first of the platform's shops whose secret
        verifies it, else any of them (so that the refusal says why); None when the platform has no shop."""
        shops = [s for s in self.shops.all() if s.platform == fmt.platform and not fmt.secret_problem(s.credentials)]
        for shop in shops:
            if fmt.verify(shop.credentials, headers, body, callback_url=self.callback_url(fmt.platform)):
                return shop
        return shops[0] if shops else None

    def _refuse(self, platform: str, refused: Refused, body: bytes, remote: str) -> Outcome:
        rejection = Rejection(platform=platform, reason=refused.reason, size=len(body), remote=remote,
                              body_sha256=hashlib.sha256(body).hexdigest(), claimed=refused.claimed,
                              detail=refused.detail)
        entry = self.store.reject(rejection)
        counts.count(self.redis, platform, f"rejected:{refused.reason}")
        log.warning("push_rejected", platform=platform, reason=refused.reason, size=len(body), remote=remote,
                    claimed=refused.claimed)
        return Outcome(STATUS[refused.reason], "rejected", refused.reason, refused.detail, entry)
