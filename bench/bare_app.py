"""The bare Celery baseline: a task that makes the same platform calls as a cancelq job and nothing else.

Run by ``celery -A bare_app:bare worker`` from the benchmarks (``common.bare_workers``). No ledger,
no limiter, no leases, no logging: it builds the same adapter, runs the same steps in order, and
counts itself done with one INCR.
"""

from __future__ import annotations

import json
import os
from typing import Any

from celery import Celery
from common import BARE_DONE, BARE_QUEUE

bare = Celery("bench", broker=os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/0"))
bare.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True, result_backend=None,
                 task_default_queue=BARE_QUEUE, worker_hijack_root_logger=False)
_cache: dict[str, Any] = {}


@bare.task(name="bench.bare_cancel", ignore_result=True)
def bare_cancel(platform: str, order_id: str, reason: str) -> None:
    from cancelq.platforms.base import CancelRequest
    from cancelq.platforms.errors import PlatformError
    from cancelq.platforms.reasons import Reason

    adapter = _adapter(platform)
    request = CancelRequest(order_id=order_id, reason=Reason(reason))
    state: dict[str, Any] = {}
    try:
        for spec in adapter.plan(request):
            result = adapter.run_step(spec.name, request, state)
            state[spec.name] = result.data
            if result.outcome is not None:
                break
    except PlatformError:
        pass
    _redis().incr(BARE_DONE)


def _adapter(platform: str) -> Any:
    if platform not in _cache:
        from cancelq.platforms.http import Timeouts, new_session
        from cancelq.platforms.registry import build_adapter

        credentials = json.loads(os.environ["BENCH_CREDENTIALS"])[platform]
        session = _cache.setdefault("_session", new_session(pool_maxsize=128))
        _cache[platform] = build_adapter(platform, credentials, base_url=os.environ["BENCH_SANDBOX"],
                                         session=session, timeouts=Timeouts(3.05, 15.0))
    return _cache[platform]


def _redis() -> Any:
    if "_redis" not in _cache:
        import redis

        _cache["_redis"] = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    return _cache["_redis"]
