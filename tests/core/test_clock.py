"""core/clock.py: a worker's skew against Redis's TIME, and which platforms it holds because of it."""

from __future__ import annotations

import time

import pytest

from cancelq.core.clock import WorkerClock


def _measure(clock: WorkerClock, server_s: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    now = clock.now()
    change = clock.measure((int(server_s), int((server_s % 1) * 1e6)), now, now)
    return change.held, change.released


@pytest.mark.parametrize(("offset_s", "held", "warning"), [
    (0.0, (), False), (45.0, (), False), (-90.0, (), True), (280.0, ("shopee",), True),
    (-600.0, ("shopee",), True), (7200.0, ("lazada", "shopee"), True),
])
def test_a_skew_past_a_platforms_window_holds_that_platform(offset_s: float, held: tuple[str, ...],
                                                            warning: bool) -> None:
    clock = WorkerClock(offset_s=offset_s)
    assert _measure(clock, time.time()) == (held, ())
    assert clock.skew_s == pytest.approx(offset_s, abs=1.0) and clock.warning is warning
    assert [p for p in ("shopee", "lazada", "shopline", "shoplazza") if clock.fault_for(p)] == sorted(held,
                                                                                                      reverse=True)
    if held:
        assert "behind" in clock.fault_for("shopee") or "ahead" in clock.fault_for("shopee")


def test_a_recovered_clock_releases_what_it_held_and_says_so_once() -> None:
    clock = WorkerClock(offset_s=-600)
    assert _measure(clock, time.time()) == (("shopee",), ())
    assert _measure(clock, time.time()) == ((), ()), "a fault already told is not told again"
    clock.offset_s = 0
    assert _measure(clock, time.time()) == ((), ("shopee",))
    assert clock.fault_for("shopee") == ""


def test_a_platform_refusing_our_timestamp_holds_it_for_a_while_then_lets_one_job_try() -> None:
    now = [1000.0]
    clock = WorkerClock(hold_s=60, monotonic=lambda: now[0])
    assert clock.refused("lazada", "Invalid timestamp") is True
    assert clock.refused("lazada", "Invalid timestamp") is False
    assert "refused this worker's timestamp" in clock.fault_for("lazada") and clock.fault_for("shopee") == ""
    now[0] += 59.9
    assert clock.fault_for("lazada") != ""
    now[0] += 0.2
    assert clock.fault_for("lazada") == ""


def test_a_platforms_date_header_reveals_a_skew_the_redis_server_shares(sandbox_url: str) -> None:
    import requests

    clock = WorkerClock(offset_s=-600)
    with requests.Session() as session:
        session.hooks["response"].append(clock.response_hook)
        assert session.get(f"{sandbox_url}/_sandbox/stats", timeout=10).ok
    skew = clock.date_skew_s()
    assert skew is not None and skew == pytest.approx(-600, abs=2.0)
    # a Redis server as far off as this worker: only the platform's Date tells
    now = clock.now()
    change = clock.measure((int(now), 0), now, now)
    assert change.held == ("shopee",) and "its Date header" in change.reason


def test_without_a_fresh_date_header_redis_decides() -> None:
    clock = WorkerClock()
    assert clock.date_skew_s() is None
    now = clock.now()
    assert clock.measure((int(now), int((now % 1) * 1e6)), now, now).reason.endswith("the Redis server's")
