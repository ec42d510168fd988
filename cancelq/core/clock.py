"""This worker's clock, as the platforms see it in our signatures, and what the worker knows of its skew.

Shopee refuses a timestamp more than 5 minutes off and Lazada one more than 7200 s off: a worker whose clock
drifted would send a stream of rejected signatures. Each worker measures its skew against Redis's ``TIME`` and
the last platform answer's ``Date`` header (with its heartbeat, off the jobs' path; the larger decides). Past
``warn_s`` (60 s by default) it is a warning metric; past a platform's window it is a configuration fault of
this worker: its jobs of that platform wait (any healthy worker takes them up) and it says why, once. A platform
that refuses our timestamp anyway (``ConfigError`` with scope ``clock``) holds that platform on this worker for
``hold_s``, after which one job tries again.

``offset_s`` is a test hook (``CANCELQ_CLOCK_OFFSET_S``): it moves this worker's clock, signatures and
measurements alike, as a drifted host clock would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

WINDOWS_S = {"shopee": 300.0, "lazada": 7200.0}
"""How far each platform lets a signed timestamp stray (Shopee: 5 minutes; Lazada: 7200 s). Shopline signs
only its token calls and Shoplazza nothing, so they have none."""
DATE_FRESH_S = 300.0
"""A platform's ``Date`` header older than this says nothing of the clock now."""
MARGIN_S = 30.0
"""A skew this close to a window is already a fault: the measurement itself is a little uncertain."""


@dataclass(frozen=True)
class Change:
    """What a measurement changed: the platforms this worker now holds (or releases), and why."""

    held: tuple[str, ...]
    released: tuple[str, ...]
    skew_s: float
    reason: str
    warning_started: bool = False
    """The skew passed ``warn_s`` at this measurement (it was within it before)."""


class WorkerClock:
    def __init__(self, *, offset_s: float = 0.0, warn_s: float = 60.0, hold_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.offset_s = offset_s
        self.monotonic = monotonic
        self.warn_s = warn_s
        self.hold_s = hold_s
        self.skew_s: float | None = None
        """Our clock minus Redis's, seconds, at the last measurement (None before the first)."""
        self._held: dict[str, str] = {}
        self._warned = False
        self._date: tuple[str, float] | None = None
        """The last platform answer's ``Date`` header and when (``now()``) it arrived."""
        self._refused_until: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds as this worker signs them."""
        return time.time() + self.offset_s

    def fault_for(self, platform: str) -> str:
        """Why this worker must not call ``platform`` now ("" when it may): one dict lookup per job."""
        held = self._held.get(platform, "")
        if held or not self._refused_until:
            return held
        until = self._refused_until.get(platform)
        return until[1] if until is not None and self.monotonic() < until[0] else ""

    def response_hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """A ``requests`` response hook: keep the platform's ``Date`` header (parsed later, at the heartbeat)."""
        date = response.headers.get("Date")
        if date:
            self._date = (date, self.now())

    def date_skew_s(self) -> float | None:
        """Our clock minus the last platform ``Date`` (whole seconds: its middle), when fresh enough."""
        sample = self._date
        if sample is None or self.now() - sample[1] > DATE_FRESH_S:
            return None
        try:
            return sample[1] - (parsedate_to_datetime(sample[0]).timestamp() + 0.5)
        except (TypeError, ValueError, IndexError):
            return None

    def measure(self, redis_time: tuple[int, int], sent_at: float, answered_at: float) -> Change:
        """Take in Redis's ``TIME`` (asked at ``sent_at``, answered at ``answered_at``, both ``now()``) and the
        last platform ``Date``; the larger skew of the two decides."""
        server = redis_time[0] + redis_time[1] / 1e6
        skew, source = (sent_at + answered_at) / 2 - server, "the Redis server's"
        by_date = self.date_skew_s()
        if by_date is not None and abs(by_date) > abs(skew) + 2.0:  # a Date header is whole seconds
            skew, source = by_date, "a platform's (its Date header)"
        self.skew_s = skew
        reason = f"this worker's clock is {abs(skew):.0f}s {'ahead of' if skew > 0 else 'behind'} {source}"
        held = {p: f"{reason}, past {p}'s {w:.0f}s window" for p, w in WINDOWS_S.items() if abs(skew) > w - MARGIN_S}
        with self._lock:
            before, was_warned = set(self._held), self._warned
            self._held, self._warned = held, abs(skew) > self.warn_s
        return Change(tuple(sorted(set(held) - before)), tuple(sorted(before - set(held))), skew, reason,
                      warning_started=self._warned and not was_warned)

    def refused(self, platform: str, message: str) -> bool:
        """A platform refused our timestamp: hold it on this worker for ``hold_s``; True when newly held."""
        with self._lock:
            known = self.fault_for(platform)
            self._refused_until[platform] = (self.monotonic() + self.hold_s,
                                             f"{platform} refused this worker's timestamp: {message[:200]}")
        return not known

    @property
    def warning(self) -> bool:
        return self.skew_s is not None and abs(self.skew_s) > self.warn_s


__all__ = ["MARGIN_S", "WINDOWS_S", "Change", "WorkerClock"]
