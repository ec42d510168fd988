"""One Redis client per kombu channel instead of one per broker operation.

kombu's Redis transport builds a new ``redis.Redis`` for each message it records as unacked, each
ack and each event it publishes (``Channel.conn_or_acquire``). With redis-py 5 and later a client
costs a table of about 170 response callbacks to build, which made up an eighth of a worker's CPU
per job in ``bench/overhead.py``. The clients share the channel's connection pool and keep no state
of their own, so one per pool serves every thread; a new pool (after kombu reconnects) gets a new one.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_CACHE = "_cancelq_client"


def reuse_clients() -> None:
    """Patch kombu's Redis channel once (idempotent); its asynchronous client is left as it is."""
    channel: Any = kombu_redis.Channel
    if getattr(channel._create_client, "_cancelq", False):
        return
    create: Any = channel._create_client

    def create_client(self: Any, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:
            # The broker connection was lost and closed (kombu 5.7 then restores the unacked messages while
            # closing the channel, and building a pool from a closed connection raised AttributeError, which
            # ended the worker). A connection error instead is one Celery recovers from; the messages stay in
            # the unacked hash, and the broker's visibility timeout and cancelq's leases bring them back.
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        if asynchronous:
            return create(self, asynchronous=True)
        pool = self.pool
        client = self.__dict__.get(_CACHE)
        if client is None or client.connection_pool is not pool:
            client = create(self)
            self.__dict__[_CACHE] = client
        return client

    create_client._cancelq = True  # type: ignore[attr-defined]
    channel._create_client = create_client
