"""Where pushes are kept: the stream of accepted pushes (``keys.PUSHES``), each once (deduplicated by the
platform's message identity), for the worker fleet to act on."""

from __future__ import annotations

import redis

from cancelq.core import keys
from cancelq.core.lua import register
from cancelq.pushes.notice import PushNotice

DEDUPE_S = 7 * 86400
"""How long a message identity is remembered: longer than any platform retries a push (Shoplazza: 2 days)."""
MAXLEN = 1_000_000


class PushStore:
    def __init__(self, client: redis.Redis, *, dedupe_s: float = DEDUPE_S, maxlen: int = MAXLEN) -> None:
        self.redis = client
        self.dedupe_ms = int(dedupe_s * 1000)
        self.maxlen = maxlen
        self._append = register(client, "cancelq.pushes", "append")

    def append(self, notice: PushNotice) -> str | None:
        """The new entry's id, or None when the same message was kept before."""
        argv: list[str | int] = [self.dedupe_ms, self.maxlen]
        for name, value in notice.fields().items():
            argv += [name, value]
        entry = self._append(keys=[keys.push_seen(notice.platform, notice.message_id), keys.PUSHES], args=argv)
        return entry.decode() if isinstance(entry, bytes) else entry
