"""Watching a chaos run from outside: the ledger's final outcomes while it runs, and the workers' logs after it.

``FinalityWatch`` polls the record of every job of the run (every ``poll_s``, in its own thread) and remembers
each job's first final (state, finished_at, attribution): any later difference, or the record vanishing, is a
final outcome that changed. ``log_events`` reads the workers' JSON log lines (``lease_lost``: a delivery that
learnt it was fenced), ``crashes`` the lines of a worker that exited of itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from cancelq.core import keys
from cancelq.jobs.states import FINAL_STATES

Outcome = tuple[str, str, str]
"""(state, finished_at, attribution) as the job's hash holds them."""
FIELDS = ("state", "finished_at", "attribution")


@dataclass(frozen=True)
class Change:
    job_id: str
    first: Outcome
    later: Outcome | None
    """None: the record was gone."""

    def __str__(self) -> str:
        later = "/".join(self.later) if self.later is not None else "no record"
        return f"{self.job_id}({'/'.join(self.first)} -> {later})"


class FinalityWatch:
    """Polls the run's jobs (``job_ids`` says which, as they become known) until ``stop``; a Redis restart
    only skips the polls it makes fail."""

    def __init__(self, client: redis.Redis, job_ids: Callable[[], Iterable[str]], *, poll_s: float = 0.1) -> None:
        self.client = client
        self.job_ids = job_ids
        self.poll_s = poll_s
        self.first: dict[str, Outcome] = {}
        self.changes: dict[tuple[str, Outcome | None], Change] = {}
        self.known: list[str] = []
        """The jobs the last poll read."""
        self.polls = 0
        self.failed_polls = 0
        self.busy_s = 0.0
        """Time spent polling (the watch's own cost)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-finality-watch", daemon=True)

    def start(self) -> FinalityWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling, after one last poll of every job (the run's end state); once."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        started = time.perf_counter()
        try:
            self._poll()
        finally:
            self.busy_s += time.perf_counter() - started

    def _poll(self) -> None:
        try:
            ids = list(self.job_ids())
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), FIELDS)
            answers = pipe.execute()
        except redis.RedisError:
            self.failed_polls += 1
            return
        self.polls += 1
        self.known = ids
        for job_id, (state, finished_at, attribution) in zip(ids, answers, strict=True):
            self._see(job_id, None if state is None else (str(state), str(finished_at or ""), str(attribution or "")))

    def _see(self, job_id: str, outcome: Outcome | None) -> None:
        first = self.first.get(job_id)
        if first is None:
            if outcome is not None and outcome[0] in FINAL_STATES:
                self.first[job_id] = outcome
        elif outcome != first:
            self.changes.setdefault((job_id, outcome), Change(job_id, first, outcome))

    @property
    def mean_poll_ms(self) -> float:
        return 1000 * self.busy_s / max(1, self.polls + self.failed_polls)

    def changed(self) -> list[str]:
        return [str(change) for change in self.changes.values()]


@dataclass(frozen=True)
class LogEvent:
    log: Path
    """The log of the worker that wrote the line."""
    at_s: float
    """Epoch seconds."""
    line: dict[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.line.get("job_id") or "")


def log_events(paths: Iterable[Path], event: str) -> list[LogEvent]:
    """Every JSON line whose ``event`` is ``event`` in the workers' logs (Celery's own lines are not JSON)."""
    found = []
    for path in paths:
        if not path.exists():
            continue
        for text in path.read_text(errors="replace").splitlines():
            if not text.startswith("{") or f'"{event}"' not in text:
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue  # a line cut short by a SIGKILL
            if line.get("event") == event:
                found.append(LogEvent(path, _epoch(line.get("timestamp")), line))
    return found


def _epoch(stamp: Any) -> float:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def crashes(paths: Iterable[Path]) -> list[str]:
    """Celery's own "Unrecoverable error" lines (the worker process exited of itself), as ``log: line``."""
    return [f"{path.stem}: {text.strip()[:160]}" for path in paths if path.exists()
            for text in path.read_text(errors="replace").splitlines() if "Unrecoverable error" in text]
