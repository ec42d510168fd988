"""Workers paused past their lease: SIGSTOP while writes are in flight, SIGCONT after the lease has passed.

A pause is what a long GC, a VM freeze or a laptop lid does to a worker: it stops mid-call and later goes on
as if nothing happened. To catch writes in flight, every write endpoint answers ``slow_write_ms`` late (the
write applied after the wait, within the workers' read timeout) around the moment of the stop; the stop comes
as soon as the sandbox has seen a few of those writes. What the paused worker does on waking is the fence's
business: its lease went to another delivery, so it must log ``lease_lost`` and write nothing.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from cancelq.core import keys
from cancelq.sandbox.control import SandboxClient

from ..helpers import WorkerProcess, wait_until
from . import world

SLOW_WRITES_SEEN = 4
"""How many slowed writes the sandbox must have seen before the stop (or ``SLOW_WRITES_WAIT_S`` passed)."""
SLOW_WRITES_WAIT_S = 4.0


@dataclass
class Pause:
    worker: str
    log: Path
    stopped_at: float
    """Epoch seconds, as the workers' log lines stamp theirs."""
    resumed_at: float = 0.0
    slowed_writes: int = 0
    """Writes the sandbox slowed around this stop (by any worker)."""
    inflight: tuple[str, ...] = ()
    """Jobs with a write in flight (in any worker) at the stop."""

    @property
    def length_s(self) -> float:
        return self.resumed_at - self.stopped_at if self.resumed_at else 0.0


class Pauses:
    """Pauses of the run's workers, each in its own thread (the schedule goes on meanwhile); never the last
    worker running. ``lock`` is held while a worker is picked and stopped: whoever kills and restarts workers
    holds it too, so a pause never stops a process on its way out or in."""

    def __init__(self, sandbox: SandboxClient, client: redis.Redis, workers: Sequence[WorkerProcess],
                 rng: random.Random, *, pause_s: float, slow_write_ms: int, job_ids: Callable[[], list[str]],
                 say: Callable[[str], None]) -> None:
        self.sandbox, self.client, self.workers, self.rng = sandbox, client, workers, rng
        self.pause_s, self.slow_write_ms = pause_s, slow_write_ms
        self.job_ids, self.say = job_ids, say
        self.lock = threading.RLock()
        self.done: list[Pause] = []
        self.skipped = 0
        self._paused: dict[str, tuple[WorkerProcess, Pause]] = {}
        self._threads: list[threading.Thread] = []
        self._thawing = threading.Event()

    def paused(self) -> set[str]:
        return set(self._paused)

    def start(self) -> None:
        """Begin a pause: it stops a worker once writes are in flight and thaws it ``pause_s`` later."""
        thread = threading.Thread(target=self._cycle, name=f"chaos-pause-{len(self._threads) + 1}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        """Wait for every pause begun to end (each ends by itself, ``pause_s`` after its stop)."""
        for thread in self._threads:
            thread.join(timeout=2 * self.pause_s + SLOW_WRITES_WAIT_S + 30)

    def resume_all(self) -> None:
        """At once: a run that ends early leaves no stopped process behind."""
        self._thawing.set()
        with self.lock:
            for worker, pause in list(self._paused.values()):
                self._thaw(worker, pause)

    def _cycle(self) -> None:
        stopped = self._stop_one()
        if stopped is not None and not self._thawing.wait(self.pause_s):  # the pause itself
            with self.lock:
                if stopped[0].hostname in self._paused:
                    self._thaw(*stopped)
                    self.say(f"SIGCONT {stopped[0].hostname} after {stopped[1].length_s:.1f}s")

    def _stop_one(self) -> tuple[WorkerProcess, Pause] | None:
        """Stop a worker while writes are in flight, never the last one running; None when no second worker
        ran for ``pause_s`` (one had exited and nobody started it again)."""
        deadline = time.monotonic() + self.pause_s
        while time.monotonic() < deadline and not self._thawing.is_set():
            with contextlib.suppress(AssertionError):
                wait_until(lambda: len(self._running()) > 1 or self._thawing.is_set(),
                           timeout_s=max(0.1, deadline - time.monotonic()), what="a second running worker",
                           poll_s=0.1)
            stopped = self._stop_during_slow_writes()
            if stopped is not None:
                return stopped
        self.skipped += 1
        self.say("pause skipped: it would have stopped the last running worker")
        return None

    def _stop_during_slow_writes(self) -> tuple[WorkerProcess, Pause] | None:
        """Slow the writes down, stop a running worker once some are in flight, put the writes back."""
        faults = world.slow_writes(self.sandbox, self.slow_write_ms)
        try:
            with contextlib.suppress(AssertionError):  # a quiet moment: the stop catches what runs
                wait_until(lambda: self._hits(faults) >= SLOW_WRITES_SEEN, timeout_s=SLOW_WRITES_WAIT_S,
                           what="slowed writes", poll_s=0.05)
            with self.lock:
                running = self._running()
                holding = [w for w in running if w.pid in self._holders(faults)]
                stopped = self._stop(self.rng.choice(holding or running)) \
                    if len(running) > 1 and not self._thawing.is_set() else None
        finally:
            hits = sum(int(self.sandbox.remove_fault(f)["hits"]) for f in faults)
        if stopped is not None:
            stopped[1].slowed_writes = hits
            self.say(f"SIGSTOP {stopped[0].hostname} ({hits} writes slowed; jobs with a write in flight: "
                     f"{' '.join(stopped[1].inflight) or 'none'})")
        return stopped

    def _running(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.running and w.hostname not in self._paused]

    def _stop(self, worker: WorkerProcess) -> tuple[WorkerProcess, Pause]:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGSTOP)
        pause = Pause(worker.hostname, worker.log_path, time.time())
        pause.inflight = self._inflight()
        self._paused[worker.hostname] = (worker, pause)
        return worker, pause

    def _thaw(self, worker: WorkerProcess, pause: Pause) -> None:
        del self._paused[worker.hostname]
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGCONT)
        pause.resumed_at = time.time()
        self.done.append(pause)

    def _holders(self, faults: list[int]) -> set[int]:
        """The pids of the workers whose writes the slowed faults are holding now (by their sockets' ports)."""
        ports = {port for f in self.sandbox.stats()["faults_pending"] if f["id"] in faults for port in f["holding"]}
        return {pid for pid, port in _sockets(w.pid for w in self.workers if w.pid) if port in ports}

    def _hits(self, faults: list[int]) -> int:
        return sum(int(f["hits"]) for f in self.sandbox.stats()["faults_pending"] if f["id"] in faults)

    def _inflight(self) -> tuple[str, ...]:
        """The run's jobs running with a write marked in flight (sent, its answer not yet recorded)."""
        ids = self.job_ids()
        try:
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), ("state", "inflight"))
            answers = pipe.execute()
        except redis.RedisError:
            return ()
        return tuple(j for j, (state, step) in zip(ids, answers, strict=True) if state == "running" and step)


def _sockets(pids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(pid, local TCP port) of each process's sockets, from /proc (Linux)."""
    ports: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                ports[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in ports:
                        yield pid, ports[link[8:-1]]
