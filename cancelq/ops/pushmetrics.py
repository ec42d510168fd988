"""The push receivers' metrics, read from Redis at scrape time (``pushes.counts``: every API process counts into
the same hashes, so any worker's endpoint reports the fleet's figures; aggregate with ``max``)::

    cancelq_pushes_received_total{platform,result,reason}   result: accepted, duplicate, ignored, rejected
    cancelq_push_success_ratio{platform}                     answered 2xx / answered, over push_success_window_s
    cancelq_pushes_window_answered{platform}                 how many answers that ratio is of

Shopee stops pushing to an app whose success rate falls under 30%: ``deploy/prometheus/pushes.rules.yml`` warns
well before (under 60% for 10 minutes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cancelq.pushes import counts


class PushCollector:
    """Registered beside the fleet-state collector; a scrape that cannot read Redis reports no push metrics."""

    def __init__(self, client: Callable[[], redis.Redis], *, window_s: int) -> None:
        self._client = client
        self.window_s = window_s

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            read = counts.read(self._client(), window_s=self.window_s)
        except redis.RedisError:
            return
        yield from render(read)


def render(read: counts.PushCounts) -> Iterator[Metric]:
    received = CounterMetricFamily("cancelq_pushes_received", "Platform pushes the receivers answered, by result "
                                   "(rejected: with its reason)", labels=["platform", "result", "reason"])
    for (platform, result), n in sorted(read.totals.items()):
        kind, _, reason = result.partition(":")
        received.add_metric([platform, kind, reason], n)
    yield received
    ratio = GaugeMetricFamily("cancelq_push_success_ratio", "Share of pushes answered 2xx over the window "
                              "(Shopee cuts an app off under 30%)", labels=["platform"])
    answered = GaugeMetricFamily("cancelq_pushes_window_answered", "Pushes answered over the success-ratio window",
                                 labels=["platform"])
    for platform in sorted(read.window):
        value = read.success_ratio(platform)
        if value is not None:
            ratio.add_metric([platform], value)
        answered.add_metric([platform], read.window[platform][1])
    yield ratio
    yield answered


def example() -> counts.PushCounts:
    """Counts with one of each series, for the docs' generated metrics table (``docs/gen.py``)."""
    return counts.PushCounts(totals={("shopee", "accepted"): 1}, window={"shopee": (1, 1)})
