"""Scripted faults: which calls fail, how, and how often.

A fault matches calls by platform and, optionally, shop, endpoint and order.
``skip`` lets the first N matching calls through; ``times`` bounds how many it
hits (None: every one); ``probability`` makes it random. ``after_write`` makes
an error or a dropped connection happen *after* the write was applied: the
ambiguous case a client must reconcile.

``html`` answers a proxy's page (``http_status``, default 502); ``truncate``
cuts the answer in half (``http_status``, default 200). ``trickle`` sends the
answer ``trickle_bytes`` at a time, ``trickle_ms`` apart, status line and
headers included unless ``trickle_headers`` is false: after the write, the real
answer; before it, the platform's error answer (nothing applied).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["error", "latency", "drop", "hang", "html", "truncate", "trickle", "ship"]
KINDS: tuple[str, ...] = ("error", "latency", "drop", "hang", "html", "truncate", "trickle", "ship")


@dataclass
class Fault:
    platform: str
    kind: FaultKind
    shop: str | None = None
    endpoint: str | None = None
    order_id: str | None = None
    times: int | None = 1
    skip: int = 0
    probability: float = 1.0
    after_write: bool = False
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    retry_after_s: float | None = None
    ban_s: int | None = None
    latency_ms: int = 0
    hang_s: float = 30.0
    trickle_bytes: int = 4
    trickle_ms: int = 100
    trickle_headers: bool = True
    hits: int = 0
    seen: int = 0
    id: int = field(default=0)
    holding: list[int] = field(default_factory=list)
    """The client ports of the calls a latency fault is holding now (a test can tell whose call it holds)."""

    def matches(self, platform: str, shop: str, endpoint: str, order_id: str | None) -> bool:
        return (
            self.platform == platform
            and self.shop in (None, shop)
            and self.endpoint in (None, endpoint)
            and self.order_id in (None, order_id)
            and (self.times is None or self.hits < self.times)
        )

    def view(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, spec: dict[str, Any]) -> Fault:
        if spec.get("kind") not in KINDS:
            raise ValueError(f"unknown fault kind {spec.get('kind')!r}; expected one of {', '.join(KINDS)}")
        known = set(Fault.__dataclass_fields__) - {"hits", "seen", "id", "holding"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        with self._lock:
            fault = Fault(**spec, id=self._next_id)
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def take(self, platform: str, shop: str, endpoint: str, order_id: str | None) -> list[Fault]:
        """The faults that hit this call (at most one of each kind), their counters advanced."""
        hit: dict[str, Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.kind in hit or not fault.matches(platform, shop, endpoint, order_id):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip or self._random.random() >= fault.probability:
                    continue
                fault.hits += 1
                hit[fault.kind] = fault
        return list(hit.values())

    def remove(self, fault_id: int) -> Fault | None:
        """Take one fault out by id (the others keep their counters); None when there is no such fault."""
        with self._lock:
            for n, fault in enumerate(self._faults):
                if fault.id == fault_id:
                    return self._faults.pop(n)
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [f.view() for f in self._faults]
