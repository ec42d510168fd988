"""kombu's Redis channel builds one client per connection pool, not one per broker operation."""

from __future__ import annotations

from cancelq.worker.app import app


def test_a_channel_reuses_its_client_until_its_pool_changes(redis_url: str) -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.ping()
        channel._pool = None  # what kombu does when it drops its connections (a broker restart)
        second = channel._create_client()
        assert second is not first and second.connection_pool is channel.pool
        assert second.ping()
        assert channel._create_client(asynchronous=True) is not second, "the asynchronous client is kombu's own"
