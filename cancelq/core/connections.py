"""Redis clients and Celery broker settings from one URL, plain or behind Redis Sentinel.

``redis+sentinel://[[user]:password@]host1:26379,host2:26379/SERVICE[/DB][?sentinel_password=...]`` (and
``rediss+sentinel://`` for TLS to the master) names the Sentinels and the monitored service: the ledger gets a
redis-py ``Sentinel.master_for`` client, which finds the current primary on each (re)connect, and the broker
gets kombu's Sentinel transport with the same Sentinels and service.

``redis+cluster://[[user]:password@]host1:6379,host2:6379[/]`` (``rediss+cluster://`` for TLS) names some nodes
of a Redis Cluster: the ledger gets redis-py's ``RedisCluster``, which learns the slot map from them (every
cancelq key shares one hash tag, so each script runs on one node). A Cluster cannot be the Celery broker:
kombu has no Redis Cluster transport, so ``celery_broker`` refuses it (use RabbitMQ, ``amqp://``).

Any other URL goes to ``redis.Redis.from_url`` and to Celery as it is. Nothing here connects until a command
is sent.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379
CLUSTER_BROKER_REFUSED = (
    "a Redis Cluster cannot be the Celery broker (kombu has no Redis Cluster transport): set CANCELQ_BROKER_URL "
    "to RabbitMQ (amqp://user:password@host:5672//) or to a plain or Sentinel Redis, and keep the Cluster URL "
    "for the ledger (CANCELQ_REDIS_URL)")


class RedisUrlError(ValueError):
    """A Redis URL cancelq cannot use; the message never repeats a password."""


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


@dataclass(frozen=True)
class ClusterTarget:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False


def parse_cluster(url: str) -> ClusterTarget:
    """The startup nodes and credentials of a ``redis+cluster://`` URL (a Cluster has database 0 only)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES or not rest:
        raise RedisUrlError(f"not a Cluster URL (expected {CLUSTER_SCHEMES[0]}://host:6379,host:6379)")
    split = urlsplit(f"x://{rest}")
    userinfo, _, hosts = split.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    if split.path.strip("/") not in ("", "0"):
        raise RedisUrlError("a Redis Cluster has only database 0: redis+cluster://h1:6379,h2:6379[/]")
    nodes = tuple(_host_port(h, DEFAULT_REDIS_PORT, "redis+cluster://h1:6379,h2:6379") for h in hosts.split(","))
    return ClusterTarget(nodes=nodes, username=unquote(username) or None, password=unquote(password) or None,
                         ssl=scheme.lower() == "rediss+cluster")


def parse_sentinel(url: str) -> SentinelTarget:
    """The Sentinels, service, database and credentials of a ``redis+sentinel://`` URL."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SENTINEL_SCHEMES or not rest:
        raise RedisUrlError(f"not a Sentinel URL (expected {SENTINEL_SCHEMES[0]}://host:26379,.../SERVICE)")
    split = urlsplit(f"x://{rest}")
    netloc = split.netloc
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    parts = [p for p in split.path.split("/") if p]
    if not parts or len(parts) > 2:
        raise RedisUrlError("a Sentinel URL names its service after the hosts: redis+sentinel://h1:26379,h2/SERVICE[/DB]")
    if len(parts) == 2 and not parts[1].isdigit():
        raise RedisUrlError(f"the database after the service must be a number, not {parts[1][:20]!r}")
    query = parse_qs(split.query)
    return SentinelTarget(
        sentinels=tuple(_host_port(h, DEFAULT_SENTINEL_PORT, "redis+sentinel://h1:26379,h2:26379/SERVICE")
                        for h in hosts.split(",")),
        service=unquote(parts[0]),
        db=int(parts[1]) if len(parts) == 2 else 0, username=unquote(username) or None,
        password=unquote(password) or None, sentinel_password=next(iter(query.get("sentinel_password", [])), None),
        ssl=scheme.lower() == "rediss+sentinel")


def _host_port(text: str, default_port: int, example: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    if not host:
        raise RedisUrlError(f"the URL needs at least one host: {example}")
    if port and not port.isdigit():
        raise RedisUrlError(f"a port must be a number, not {port[:10]!r} ({example})")
    return host, int(port) if port else default_port


def client(url: str, **kwargs: Any) -> redis.Redis:
    """A client of the URL's server: for a Sentinel URL, of the service's current primary; for a Cluster URL, a
    ``RedisCluster`` (typed as ``redis.Redis``: it answers the same commands cancelq sends)."""
    if is_cluster(url):
        return cluster_client(url, **kwargs)
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel(url)
    timeouts: dict[str, Any] = {k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs}
    sentinel_kwargs: dict[str, Any] = dict(timeouts)
    if target.sentinel_password:
        sentinel_kwargs["password"] = target.sentinel_password
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs, **timeouts)  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service, redis_class=redis.Redis, db=target.db, username=target.username, password=target.password,
        ssl=target.ssl, **kwargs)
    return master


def cluster_client(url: str, **kwargs: Any) -> redis.Redis:
    """A ``RedisCluster`` started from the URL's nodes."""
    target = parse_cluster(url)
    nodes = [ClusterNode(host, port) for host, port in target.nodes]  # type: ignore[no-untyped-call]
    cluster = RedisCluster(startup_nodes=nodes, username=target.username, password=target.password,
                           ssl=target.ssl, **kwargs)
    return cast(redis.Redis, cluster)


def celery_broker(url: str, transport_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Celery settings (``broker_url``, ``broker_transport_options``, ``broker_use_ssl``) for this broker URL,
    the given transport options included. A Cluster URL is refused (``CLUSTER_BROKER_REFUSED``)."""
    if is_cluster(url):
        raise RedisUrlError(CLUSTER_BROKER_REFUSED)
    options = dict(transport_options or {})
    if not is_sentinel(url):
        return {"broker_url": url, "broker_transport_options": options}
    target = parse_sentinel(url)
    auth = ""
    if target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels)
    options["master_name"] = target.service
    if target.sentinel_password:
        options["sentinel_kwargs"] = {"password": target.sentinel_password}
    conf: dict[str, Any] = {"broker_url": broker, "broker_transport_options": options}
    if target.ssl:
        conf["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return conf

