"""``cancelq health``: is this deployment able to cancel orders? For probes, cron and humans.

Checks, each with a one-line verdict:

* ``redis``: the ledger's Redis answers (never starts the embedded server: a probe only looks);
* ``broker``: the Celery broker accepts a connection;
* ``workers``: enough workers have a live heartbeat key (``keys.worker``, renewed every
  10 s, gone 60 s after the last beat); ``--local`` wants one on this host, ``--worker`` a named one;
* ``ping`` (optional): the workers answer a broadcast ping through the broker;
* ``dead_letters``: the dead-letter store holds no more than the threshold.

Healthy means every check passed. A failed Redis fails the checks that need it.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from kombu.connection import Connection
from kombu.utils.url import maybe_sanitize_url

from cancelq.core import connections, keys
from cancelq.core.embedded import PORT_FILE
from cancelq.core.settings import Settings
from cancelq.ops.metrics import REDIS_SCHEMES
from cancelq.runtime import get_runtime


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "checks": [asdict(check) for check in self.checks]}


@dataclass(frozen=True)
class Probe:
    """What to require: ``max_dead_letters`` -1 never fails; ``worker`` a hostname; ``local`` one on this host."""

    min_workers: int = 1
    max_dead_letters: int = 1000
    worker: str | None = None
    local: bool = False
    ping: bool = False
    timeout_s: float = 3.0


def safe_url(url: str) -> str:
    """The URL with its password masked."""
    return str(maybe_sanitize_url(url))


def _scrubbed(text: str, url: str) -> str:
    """``text`` without the URL's password, should a driver's message quote it."""
    password = urlsplit(url).password
    return text.replace(password, "**") if password else text


def redis_url_for_probe(settings: Settings) -> str | None:
    """The configured Redis URL, or the running embedded server's; None when neither exists."""
    if settings.redis_url:
        return settings.redis_url
    port_file = Path(settings.data_dir).resolve() / PORT_FILE
    if not port_file.exists():
        return None
    return f"redis://127.0.0.1:{port_file.read_text().strip()}/0"


def check_health(settings: Settings, probe: Probe) -> Health:
    redis_url = redis_url_for_probe(settings)
    checks: list[Check] = []
    client = None
    if redis_url is None:
        checks.append(Check("redis", False, f"no redis_url set and no embedded Valkey running in {settings.data_dir}"))
    else:
        client = connections.client(redis_url, decode_responses=True, socket_connect_timeout=probe.timeout_s,
                                    socket_timeout=probe.timeout_s)
        checks.append(_check_redis(client, redis_url))
    broker_url = settings.broker_url or redis_url
    checks.append(_check_broker(broker_url, probe.timeout_s) if broker_url else
                  Check("broker", False, "no broker configured"))
    redis_ok = checks[0].ok and client is not None
    checks.append(_check_workers(client, probe) if redis_ok and client is not None else
                  Check("workers", False, "unknown: Redis is unreachable"))
    if probe.ping:
        checks.append(_check_ping(probe) if checks[1].ok else Check("ping", False, "unknown: broker is unreachable"))
    checks.append(_check_dead_letters(client, probe) if redis_ok and client is not None else
                  Check("dead_letters", False, "unknown: Redis is unreachable"))
    if client is not None:
        client.close()
    return Health(checks)


def _check_redis(client: redis.Redis, url: str) -> Check:
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check("redis", False, _scrubbed(f"Redis at {safe_url(url)} is unreachable: {exc}", url))
    return Check("redis", True, f"Redis at {safe_url(url)} answers")


def _check_broker(url: str, timeout_s: float) -> Check:
    try:
        if url.startswith(REDIS_SCHEMES):
            connections.client(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping()
        else:
            with Connection(url, connect_timeout=timeout_s) as conn:  # type: ignore[no-untyped-call]
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
    except Exception as exc:  # whatever the transport raises, the verdict is the same
        return Check("broker", False,
                     _scrubbed(f"broker at {safe_url(url)} is unreachable: {type(exc).__name__}: {exc}", url))
    return Check("broker", True, f"broker at {safe_url(url)} accepts connections")


def live_workers(client: redis.Redis) -> list[str]:
    prefix = keys.worker("")
    return sorted(str(k).removeprefix(prefix) for k in client.scan_iter(match=keys.worker("*"), count=1000))


def _check_workers(client: redis.Redis, probe: Probe) -> Check:
    try:
        workers = live_workers(client)
    except redis.RedisError as exc:
        return Check("workers", False, f"could not list worker heartbeats: {exc}")
    if probe.worker is not None:
        ok = probe.worker in workers
        return Check("workers", ok, f"worker {probe.worker} is {'alive' if ok else 'not beating (no heartbeat key)'}")
    if probe.local:
        host = socket.gethostname()
        mine = [w for w in workers if w.endswith(f"@{host}")]
        return Check("workers", bool(mine), f"{len(mine)} live worker(s) on {host}" if mine else
                     f"no live worker on this host ({host}): no heartbeat key {keys.worker('*@' + host)}")
    ok = len(workers) >= probe.min_workers
    names = ", ".join(workers[:5]) + (" ..." if len(workers) > 5 else "")
    return Check("workers", ok, f"{len(workers)} live worker(s) ({names})" if ok else
                 f"{len(workers)} live worker(s), fewer than {probe.min_workers}: no heartbeat keys "
                 f"{keys.worker('*')}")


def _check_ping(probe: Probe) -> Check:
    app = get_runtime().sender.app
    wanted = 1 if probe.worker else max(1, probe.min_workers)
    destination = [probe.worker] if probe.worker else None
    replies = app.control.ping(destination=destination, timeout=probe.timeout_s, limit=wanted) or []
    names = sorted(name for reply in replies for name in reply)
    ok = len(names) >= wanted
    return Check("ping", ok, f"{', '.join(names)} answered a ping" if ok else
                 f"{len(names)} worker(s) answered a ping within {probe.timeout_s:g}s, {wanted} wanted")


def _check_dead_letters(client: redis.Redis, probe: Probe) -> Check:
    try:
        size = int(client.zcard(keys.DLQ))
    except redis.RedisError as exc:
        return Check("dead_letters", False, f"could not count dead letters: {exc}")
    if probe.max_dead_letters < 0:
        return Check("dead_letters", True, f"{size} dead letter(s) (no threshold)")
    ok = size <= probe.max_dead_letters
    return Check("dead_letters", ok, f"{size} dead letter(s), threshold {probe.max_dead_letters}" if ok else
                 f"{size} dead letter(s), above the threshold of {probe.max_dead_letters} (cancelq dlq list)")
