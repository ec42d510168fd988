"""Where pushes are kept: the stream of accepted pushes (``keys.PUSHES``), each once (deduplicated by the
platform's message identity), for the worker fleet to act on."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.pushes.notice import PushNotice

DEDUPE_S = 7 * 86400
"""How long a message identity is remembered: longer than any platform retries a push (Shoplazza: 2 days)."""
MAXLEN = 1_000_000
REJECTED_MAXLEN = 100_000
REJECT_REASONS = ("unknown_platform", "unparseable", "unknown_shop", "unverifiable", "unsigned", "bad_signature")
"""Why a push was refused: answered 404 (unknown platform or shop), 400 (unparseable) or 401 (the rest)."""


@dataclass(frozen=True)
class Rejection:
    """A refused push as ``keys.PUSHES_REJECTED`` keeps it: never its signature, never a secret, never its body
    (``body_sha256`` tells two copies of one body apart); ``claimed`` is the shop id it claimed, if it named one."""

    platform: str
    reason: str
    size: int
    remote: str
    body_sha256: str
    claimed: str = ""
    detail: str = ""
    at_ms: int = 0

    def fields(self) -> dict[str, str]:
        return {name: str(value)[:200] for name, value in asdict(self).items()}


class PushStore:
    def __init__(self, client: redis.Redis, *, dedupe_s: float = DEDUPE_S, maxlen: int = MAXLEN) -> None:
        self.redis = client
        self.dedupe_ms = int(dedupe_s * 1000)
        self.maxlen = maxlen
        self._append = register(client, "cancelq.pushes", "append")
        self._receive = register(client, "cancelq.pushes", "receive")

    def append(self, notice: PushNotice) -> str | None:
        """The new entry's id, or None when the same message was kept before."""
        argv: list[str | int] = [self.dedupe_ms, self.maxlen]
        for name, value in notice.fields().items():
            argv += [name, value]
        entry = self._append(keys=[keys.push_seen(notice.platform, notice.message_id), keys.PUSHES], args=argv)
        return entry.decode() if isinstance(entry, bytes) else entry

    def receive(self, notice: PushNotice, *, minute_key: str, minute_ttl_s: int) -> str | None:
        """``append``, counted for the receivers' metrics (``pushes.counts``) in the same script call."""
        argv: list[str | int] = [self.dedupe_ms, self.maxlen, notice.platform, minute_ttl_s]
        for name, value in notice.fields().items():
            argv += [name, value]
        entry = self._receive(keys=[keys.push_seen(notice.platform, notice.message_id), keys.PUSHES,
                                    keys.PUSH_COUNTS, minute_key], args=argv)
        return entry.decode() if isinstance(entry, bytes) else entry

    def reject(self, rejection: Rejection) -> str:
        """Keep a refused push; the entry's id."""
        if rejection.reason not in REJECT_REASONS:
            raise ValueError(f"push rejection reason {rejection.reason!r} is not one of {', '.join(REJECT_REASONS)}")
        fields = rejection.fields()
        if not rejection.at_ms:
            fields["at_ms"] = str(int(time.time() * 1000))
        entry = self.redis.xadd(keys.PUSHES_REJECTED, fields,  # type: ignore[arg-type]
                                maxlen=REJECTED_MAXLEN, approximate=True)
        return entry.decode() if isinstance(entry, bytes) else str(entry)
