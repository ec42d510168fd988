"""Prometheus metrics: the fleet's state read from Redis at scrape time, and the endpoint that serves it
with the job-side counters of ``cancelq.core.counters``.

Read from Redis (and the broker) on every scrape by ``StateCollector``: dead
letters, delayed, claimed and overdue jobs, rejected jobs,
queue depth, live workers, and (from ``controls.snapshot``) open circuits,
paused scopes and cooldowns. These are fleet-wide: every worker reports the same
values, so aggregate them with ``max`` rather than ``sum``.

Each worker serves both on ``metrics_port`` from its main process (started by the
``worker_ready`` handler below). With the threads pool (our default) the jobs run
in that process, so its counters are the worker's. With the prefork pool they run
in child processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory per
worker (wiped before it starts) and the endpoint aggregates the children's files.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from kombu.connection import Connection
from prometheus_client import (
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from cancelq.core import connections, counters, keys
from cancelq.core.logging import get_logger
from cancelq.core.settings import Settings, get_settings
from cancelq.core.version import build
from cancelq.gate.controls import snapshot
from cancelq.ops.pushmetrics import PushCollector
from cancelq.runtime import get_runtime

KOMBU_PRIORITY_SEP = "\x06\x16"
"""kombu's Redis transport keeps priorities 3, 6 and 9 of queue Q in lists named Q + this + the digit."""
REDIS_SCHEMES = ("redis://", "rediss://", "valkey://", "valkeys://", "unix://", "redis+sentinel://",
                 "rediss+sentinel://")
OVERDUE_MS = 30_000


@dataclass
class FleetState:
    """What ``StateCollector`` read on one scrape."""

    redis_up: bool = False
    broker_up: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    queue_depth: int | None = None
    queue_consumers: int | None = None
    controls: Any = None


class StateCollector:
    """Reads the fleet's state from Redis (and the broker's queue depth) when Prometheus scrapes."""

    def __init__(self, client: Callable[[], redis.Redis], *, broker_url: str | None, queue: str,
                 cache_s: float = 0.0, broker_timeout_s: float = 3.0) -> None:
        self._client = client
        self.broker_url = broker_url
        self.queue = queue
        self.cache_s = cache_s
        self.broker_timeout_s = broker_timeout_s
        self._lock = threading.Lock()
        self._cached: tuple[float, FleetState] | None = None

    def describe(self) -> list[Metric]:
        return []  # registering must not read Redis; the families are only known at scrape time

    def collect(self) -> Iterator[Metric]:
        yield from render_state(self.read())

    def read(self) -> FleetState:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_s:
                return self._cached[1]
            state = self._read()
            self._cached = (time.monotonic(), state)
            return state

    def _read(self) -> FleetState:
        state = FleetState()
        client = self._client()
        try:
            state.counts = read_counts(client)
            state.redis_up = True
            state.controls = _controls(client)
        except redis.RedisError:
            state.redis_up = False
        self._read_queue(client, state)
        return state

    def _read_queue(self, client: redis.Redis, state: FleetState) -> None:
        try:
            if self.broker_url is None:
                state.queue_depth = redis_queue_depth(client, self.queue)
            elif self.broker_url.startswith(REDIS_SCHEMES):
                with _redis_for(self.broker_url, self.broker_timeout_s) as broker:
                    state.queue_depth = redis_queue_depth(broker, self.queue)
            else:
                state.queue_depth, state.queue_consumers = amqp_queue_depth(
                    self.broker_url, self.queue, timeout_s=self.broker_timeout_s)
            state.broker_up = True
        except Exception:  # any broker failure is reported as broker_up 0, never as a failed scrape
            state.broker_up = False


def read_counts(client: redis.Redis) -> dict[str, int]:
    """Dead letters, delayed/claimed/overdue jobs, rejected jobs, live workers."""
    now = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    pipe.zcard(keys.DLQ)
    pipe.zcard(keys.DELAYED)
    pipe.zcard(keys.CLAIMED)
    pipe.zcount(keys.DELAYED, "-inf", now - OVERDUE_MS)
    pipe.zcount(keys.CLAIMED, "-inf", now - OVERDUE_MS)
    pipe.zcard(keys.REJECTED)
    pipe.zrange(keys.DELAYED, 0, 0, withscores=True)
    *sizes, earliest = pipe.execute()
    dead, delayed, claimed, overdue, overdue_claims, rejected = (int(v) for v in sizes)
    counts = {"dead_letters": dead, "delayed": delayed, "claimed": claimed, "overdue": overdue + overdue_claims,
              "rejected": rejected, "oldest_waiting_seconds": max(0, now - int(earliest[0][1])) // 1000 if earliest
              else 0}
    counts["workers"] = sum(1 for _ in client.scan_iter(match=keys.worker("*"), count=1000))
    return counts


def redis_queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in a kombu Redis queue, over its priority lists."""
    pipe = client.pipeline(transaction=False)
    for name in (queue, *(f"{queue}{KOMBU_PRIORITY_SEP}{p}" for p in (3, 6, 9))):
        pipe.llen(name)
    return sum(int(n) for n in pipe.execute())


def amqp_queue_depth(broker_url: str, queue: str, *, timeout_s: float = 3.0) -> tuple[int, int]:
    """(messages ready, consumers) of an AMQP queue, by a passive declare (creates nothing)."""
    with Connection(broker_url, connect_timeout=timeout_s) as conn:  # type: ignore[no-untyped-call]
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
        _, messages, consumers = conn.default_channel.queue_declare(queue=queue, passive=True)
        return int(messages), int(consumers)


def _redis_for(url: str, timeout_s: float) -> redis.Redis:
    return connections.client(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)


def _controls(client: redis.Redis) -> Any:
    """``controls.snapshot``: open circuits, paused scopes, cooldowns."""
    return snapshot(client)


def render_state(state: FleetState) -> Iterator[Metric]:
    info = build()
    build_info = GaugeMetricFamily("cancelq_build_info", "Always 1: the versions of cancelq and what it runs on",
                                   labels=list(info))
    build_info.add_metric(list(info.values()), 1)
    yield build_info
    yield _gauge("cancelq_redis_up", "1 when the scrape could read Redis", 1 if state.redis_up else 0)
    if state.broker_up is not None:
        yield _gauge("cancelq_broker_up", "1 when the scrape could read the broker's queue", int(state.broker_up))
    described = {
        "dead_letters": "Entries in the dead-letter store",
        "delayed": "Timers on the delayed set: waits (backoff, limits, pauses, quota, auth), safety nets, leases",
        "claimed": "Due jobs a pump claimed and is sending",
        "overdue": "Timers and claims more than 30 s past due: no pump is keeping up",
        "rejected": "Rejected jobs kept in the ledger",
        "workers": "Workers with a live heartbeat",
        "oldest_waiting_seconds": "How long the job due longest ago has been waiting for a worker (0: none is due)",
    }
    for name, help_text in described.items():
        if name in state.counts:
            yield _gauge(f"cancelq_{name}", help_text, state.counts[name])
    if state.queue_depth is not None:
        yield _gauge("cancelq_queue_depth", "Messages waiting in the broker queue", state.queue_depth)
    if state.queue_consumers is not None:
        yield _gauge("cancelq_queue_consumers", "Consumers of the broker queue (AMQP)", state.queue_consumers)
    if state.controls is not None:
        yield from render_controls(state.controls)


def render_controls(snapshot: Any) -> Iterator[Metric]:
    circuits: list[str] = list(snapshot.open_circuits)
    paused: list[str] = list(snapshot.paused)
    cooldowns: dict[str, float] = dict(snapshot.cooldowns)
    yield _gauge("cancelq_open_circuits", "Open circuits (platform or platform:shop)", len(circuits))
    yield _labelled("cancelq_circuit_open", "1 per open circuit", "scope", ((c, 1.0) for c in circuits))
    yield _gauge("cancelq_paused_scopes", "Paused scopes (all, platform:P, shop:P/NAME, campaign:ID)", len(paused))
    yield _labelled("cancelq_paused", "1 per paused scope", "scope", ((p, 1.0) for p in paused))
    yield _gauge("cancelq_cooldowns", "Limit scopes cooling down after a platform's slow-down signal",
                 len(cooldowns))
    yield _labelled("cancelq_cooldown_seconds", "Seconds left of a scope's cooldown", "scope", cooldowns.items())


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _labelled(name: str, help_text: str, label: str, values: Iterable[tuple[str, float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for key, value in values:
        family.add_metric([key], value)
    return family


def state_collector(settings: Settings, *, cache_s: float = 0.0) -> StateCollector:
    """A collector on the runtime's Redis and the configured broker and queue."""
    return StateCollector(lambda: get_runtime().redis, broker_url=settings.broker_url, queue=settings.queue,
                          cache_s=cache_s, broker_timeout_s=settings.health_timeout_s)


class _Registered:
    """The collectors of another registry, so one registry can serve them with the fleet state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def registry_for(settings: Settings, *, cache_s: float = 0.0, with_state: bool = True) -> CollectorRegistry:
    """This process's metrics (or, under prefork, the multiprocess directory's), plus the fleet state."""
    registry = CollectorRegistry()
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Registered(counters.REGISTRY))
    if with_state:
        registry.register(state_collector(settings, cache_s=cache_s))
        registry.register(PushCollector(lambda: get_runtime().redis, window_s=settings.push_success_window_s))
    return registry


def exposition(settings: Settings | None = None) -> bytes:
    """One scrape's text: the fleet state and this process's metrics (``cancelq metrics``)."""
    return generate_latest(registry_for(settings or get_settings()))


_served: list[Any] = []


def serve(settings: Settings) -> int | None:
    """Start the HTTP endpoint in this process, once; the bound port, or None when off or the port is taken."""
    if not settings.metrics_port or _served:
        return None
    registry = registry_for(settings, cache_s=settings.metrics_state_cache_s, with_state=settings.metrics_state)
    try:
        server, thread = start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:  # a second worker on this host with the same port: it runs, without an endpoint
        get_logger("cancelq.metrics").warning("metrics_port_unavailable", port=settings.metrics_port,
                                              error=str(exc))
        return None
    _served.append((server, thread))
    get_logger("cancelq.metrics").info("metrics_serving", port=settings.metrics_port, host=settings.metrics_host)
    return settings.metrics_port


def serve_worker_metrics(sender: Any = None, **_: Any) -> None:
    """worker_ready: serve /metrics from the worker's main process."""
    serve(get_settings())


__all__ = [
    "FleetState",
    "StateCollector",
    "exposition",
    "serve",
    "serve_worker_metrics",
]
