"""The webhook sender's pace: capped while the worker runs cancels, free when it does not."""

from __future__ import annotations

from cancelq.delivery.sender import Pace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_worker_starts_at_most_rate_attempts_a_second_and_an_idle_one_is_not_held() -> None:
    clock, busy = Clock(), [True]
    pace = Pace(100, busy=lambda: busy[0], burst_s=0.25, clock=clock)
    assert pace.take(500) == 25  # the saved-up burst
    assert pace.take(10) == 0 and 0 < pace.wait_s(0.5) <= 0.01
    started = 0
    for _ in range(100):  # one second in steps of 10 ms
        clock.now += 0.01
        started += pace.take(32)
    assert started == 100
    pace.give_back(5)
    assert pace.take(32) == 5
    busy[0] = False
    assert pace.take(500) == 500 and pace.wait_s(0.5) == 0.5
    assert Pace(0, busy=lambda: True, clock=clock).take(500) == 500
