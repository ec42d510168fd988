"""Run the chaos suite: a paced mixed campaign under worker kills and pauses, Redis restarts and platform faults.

Workers are SIGKILLed or paused past their lease (SIGSTOP, then SIGCONT), and platforms fail, ship orders
mid-run or trickle their answers.

    .venv/bin/python -m tests.chaos.driver                 # the full run (about 2,400 orders, 11 kills, 5 pauses)
    .venv/bin/python -m tests.chaos.driver --short         # the CI form
    .venv/bin/python -m tests.chaos.driver --orders 500 --kills 4 --outage-s 10 --submit-s 30

It owns everything it talks to: a Valkey with AOF on a fixed port (so it can restart in place), a
sandbox process and the worker processes. The schedule's sleeps are the chaos itself (when to kill,
when to submit); waiting for outcomes polls the ledger, and a thread watches that no final outcome changes.
It prints the tables of ``report.Report`` and exits 1 when a promise was broken.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery

from cancelq.campaigns.intake import Publisher
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess, free_port
from cancelq.core.settings import Settings
from cancelq.jobs.contract import TASK_NAME, default_idempotency_key
from cancelq.jobs.intake import admit, summary
from cancelq.jobs.states import FINAL_STATES
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.sandbox.runner import SandboxProcess

from ..helpers import WorkerProcess, wait_until
from . import world
from .config import FULL, OUTAGE_CODES, SHORT, WORKER_ENV, ChaosConfig
from .hooks import HookWatch
from .pauses import Pauses
from .pushes import ChaosPushes, ended_by_processor
from .report import ChaosLog, Report, collect
from .watch import FinalityWatch

HOOKS_WAIT_S = 90.0
"""After the drain, how long the webhook endpoint may take to hear of every outcome."""


@dataclass(frozen=True)
class Event:
    at_s: float
    name: str
    act: Callable[[], None]


class ChaosRun:
    def __init__(self, config: ChaosConfig, workdir: Path, *, verbose: bool = False) -> None:
        self.c = config
        self.work = workdir
        self.verbose = verbose
        self.rng = random.Random(config.seed)
        self.log = ChaosLog(outage_platform=config.outage_platform, lease_s=float(WORKER_ENV["CANCELQ_LEASE_S"]))
        self.shops = world.make_shops(config.shops_per_platform)
        self.orders = world.make_orders(config.orders, self.shops, self.rng, decoys=config.decoys)
        self.submitted: list[world.Order] = []
        self.wire_orders: set[tuple[str, str]] = set()
        self.workers: list[WorkerProcess] = []
        self.outage_fault: int | None = None
        self.outage_at = 0.0
        self.t0 = time.monotonic()
        self.known_ids: dict[tuple[str, str], str] = {}
        """The watch thread's own cache of the submitted orders' jobs."""

    def run(self) -> Report:
        with self._system():
            started = self.t0 = time.monotonic()
            for event in self._timeline():
                time.sleep(max(0.0, self.t0 + event.at_s - time.monotonic()))
                self._revive()
                self._say(event.name)
                event.act()
            self.pauses.join()
            self.log.submit_s = time.monotonic() - started
            self._drain()
            self.log.pushes.ended = ended_by_processor(self.rt)
            self.pauses.resume_all()
            self.log.hooks_missing = self.hooks.wait(HOOKS_WAIT_S)
            for worker in self.workers:
                worker.stop()
            self.watch.stop()
            self.log.elapsed_s = time.monotonic() - started
            self.log.pauses, self.log.pauses_skipped = self.pauses.done, self.pauses.skipped
            return collect(self.rt, self.sandbox, self.orders, self._job_ids(), self.log, watch=self.watch,
                           worker_logs=[w.log_path for w in self.workers], hooks=self.hooks)

    @contextlib.contextmanager
    def _system(self) -> Iterator[None]:
        port = free_port()
        self.valkey = ValkeyProcess(self.work / "valkey", persist=True, port=port)
        url = self.valkey.start()
        sandbox_proc = SandboxProcess()
        try:
            sandbox_url = sandbox_proc.start()
            self.sandbox = SandboxClient(sandbox_url)
            settings = Settings(redis_url=url, **{k.removeprefix("CANCELQ_").lower(): v  # type: ignore[arg-type]
                                                  for k, v in WORKER_ENV.items()})
            self.rt = Runtime(settings=settings, redis_url=url)
            self.client = CancelQ(self.rt)
            self.publisher = Publisher(self.rt)
            self.celery = Celery("chaos-foreign-client", broker=url)
            self.hooks = HookWatch(self.rt.redis)
            world.register(self.shops, self.sandbox, self.rt.shops, sandbox_url)
            world.seed(self.sandbox, self.orders)
            world.standing_faults(self.sandbox, self.c.fault_scale)
            self.workers = [WorkerProcess(self.work / f"w{n}.log", url, concurrency=self.c.concurrency,
                                          name=f"chaos{n}", env=WORKER_ENV) for n in range(1, self.c.workers + 1)]
            with ThreadPoolExecutor(len(self.workers)) as pool:
                list(pool.map(WorkerProcess.start, self.workers))
            self.watch = FinalityWatch(self.rt.redis, self._watched_ids).start()
            self.pushes = ChaosPushes(self.rt, self.sandbox, random.Random(self.c.seed + 2), self.log.pushes,
                                      self._say)
            self.pauses = Pauses(self.sandbox, self.rt.redis, self.workers, random.Random(self.c.seed + 1),
                                 pause_s=self.log.lease_s + self.c.pause_beyond_lease_s,
                                 slow_write_ms=self.c.slow_write_ms, job_ids=lambda: self.watch.known, say=self._say)
            yield
        finally:
            if hasattr(self, "pauses"):
                self.pauses.resume_all()
            for worker in self.workers:
                worker.stop()
            if hasattr(self, "watch"):
                self.watch.stop()
            with contextlib.suppress(Exception):
                self.celery.close()
            if hasattr(self, "hooks"):
                self.hooks.close()
            sandbox_proc.stop()
            self.valkey.stop()

    def _timeline(self) -> list[Event]:
        c, w = self.c, self.c.submit_s
        live = [o for o in self.orders if not o.decoy]
        size = -(-len(live) // c.chunks)
        events = [Event(w * 0.9 * i / c.chunks, f"submit chunk {i + 1}/{c.chunks}",
                        _bind(self._submit, live[i * size:(i + 1) * size], i)) for i in range(c.chunks)]
        events += [Event(w * (i + 0.5) / c.kills, f"SIGKILL {i + 1}/{c.kills}", self._kill) for i in range(c.kills)]
        events += [Event(w * (0.55 + 0.2 * i), "restart Redis", self._restart_redis) for i in range(c.redis_restarts)]
        events += [Event(w * (0.1 + 0.8 * i / c.pauses), f"pause {i + 1}/{c.pauses} (once writes are in flight)",
                         self._pause) for i in range(c.pauses)]
        if c.outage_s > 0:
            events += [Event(w * 0.15, f"{c.outage_platform} outage begins", self._outage_on),
                       Event(w * 0.15 + c.outage_s, f"{c.outage_platform} outage ends", self._outage_off)]
        firsts = [s for s in self.shops if s.name.endswith("-1")]
        lasts = [s for s in self.shops if s.name.endswith(f"-{c.shops_per_platform}")]
        for n, at in enumerate((0.25, 0.4, 0.7, 0.85)):
            shop = (firsts if n % 2 == 0 else lasts)[n]
            events.append(Event(w * at, f"expire {shop.platform}/{shop.ref}'s token", _bind(self._expire, shop)))
        events += [Event(w * (i + 0.7) / c.ships, "ship orders mid-run", self._ship) for i in range(c.ships)]
        events += [Event(w * (0.2 + 0.75 * i / max(1, c.push_rounds)), f"pushes {i + 1}/{c.push_rounds}",
                         self._pushes) for i in range(c.push_rounds)]
        for n in range(c.bursts):
            platform = list(world.BURSTS)[n % len(world.BURSTS)]
            events.append(Event(w * (0.3 + 0.5 * n / max(1, c.bursts)), f"{platform} 429/ban burst",
                                _bind(self._burst, platform)))
        return sorted(events, key=lambda e: e.at_s)

    # --- what arrives ---

    def _submit(self, chunk: list[world.Order], index: int) -> None:
        wire = chunk[::20]
        singles = chunk[5::10]
        picked = {o.key for o in [*wire, *singles]}
        campaign = [o for o in chunk if o.key not in picked]
        earlier = [o for o in self.submitted if o.key not in self.wire_orders]
        self.submitted += chunk
        self.wire_orders |= {o.key for o in wire}
        self._send_wire([o.job() for o in wire])
        self.log.wire += len(wire)
        for order in singles:
            self._send_single(order.job())
        self.log.singles += len(singles)
        invalid_rows = 1 if index < 2 else 0
        path = world.write_campaign(self.work / f"campaign-{index + 1}.csv", campaign, invalid_rows)
        result = self.client.run_campaign(path, campaign_id=f"chaos-{index + 1}")
        self.log.campaigns.append(result.campaign_id)
        self.log.campaign_invalid_expected += invalid_rows
        self.log.campaign_invalid_seen += result.invalid_count
        for order in self.rng.sample(earlier, min(2, len(earlier))):
            self.log.duplicates += 1
            self.log.duplicates_created += int(self._send_single(order.job()))
        if index == 0:
            for job in world.invalid_jobs(self.shops)[:2]:
                self._send_single(job)
                self.log.invalid_submitted += 1
        if index == 1:  # well before the Redis restart: a foreign client's push lost with it is no job of ours
            self._send_wire([world.invalid_jobs(self.shops)[2]])
            self.log.invalid_submitted += 1

    def _send_single(self, job: dict[str, Any]) -> bool:
        """Submit as the Python API does; True when a job was created and sent."""
        admitted = admit(self.rt, job, source="chaos")
        if admitted.created and not admitted.rejected and admitted.job is not None:
            self.publisher.send([admitted.job_id], {admitted.job_id: summary(admitted.job)})
            return True
        return False

    def _send_wire(self, jobs: list[dict[str, Any]]) -> None:
        """As any Celery client may: the job itself as the task's argument; the worker does the intake."""
        for job in jobs:
            self.celery.send_task(TASK_NAME, args=[job], queue=self.rt.settings.queue)

    # --- the chaos ---

    def _kill(self) -> None:
        with self.pauses.lock:  # a worker on its way out or back in is never the one paused
            worker = self.rng.choice([w for w in self.workers if w.hostname not in self.pauses.paused()])
            worker.kill()
            self._say(f"killed {worker.hostname}")
            self.log.kills += 1
            worker.start()
        self._say(f"{worker.hostname} is back")

    def _revive(self) -> None:
        """As a process supervisor would: start again a worker that exited of itself (the report lists each)."""
        with self.pauses.lock:
            for worker in self.workers:
                if not worker.running and worker.hostname not in self.pauses.paused():
                    self._say(f"{worker.hostname} had exited: started again")
                    worker.kill()  # reaps it
                    worker.start()
                    self.log.revived += 1

    def _restart_redis(self) -> None:
        down = time.monotonic()
        self.valkey.stop()
        time.sleep(self.c.redis_down_s)
        self.valkey.start()
        self._say("Redis is back")
        self.log.redis_down_s += time.monotonic() - down
        self.log.redis_restarts += 1

    def _pause(self) -> None:
        self.pauses.start()

    def _outage_on(self) -> None:
        platform = self.c.outage_platform
        code = {"code": OUTAGE_CODES[platform]} if platform in OUTAGE_CODES else {}
        fault = self.sandbox.fault(platform, "error", http_status=503, times=None, **code)
        self.outage_fault, self.outage_at = int(fault["id"]), time.monotonic()

    def _outage_off(self) -> None:
        if self.outage_fault is not None:
            time.sleep(max(0.0, self.outage_at + self.c.outage_s - time.monotonic()))  # all of it, if it began late
            self.log.outage_hits = int(self.sandbox.remove_fault(self.outage_fault)["hits"])
            self.log.outage_s = time.monotonic() - self.outage_at

    def _expire(self, shop: world.ChaosShop) -> None:
        self.sandbox.expire_token(shop.platform, shop.ref)
        self.log.expired.append((shop.platform, shop.ref))

    def _ship(self) -> None:
        """Ship a few orders whose jobs have not run to the end yet: some between two of their steps."""
        candidates = [o for o in self.submitted if o.state == "cancellable"]
        picked = self.rng.sample(candidates, min(40, len(candidates)))
        ids = self._job_ids(picked)
        states = self._states([ids.get(o.key, "") for o in picked])
        pending = [o for o, s in zip(picked, states, strict=True) if s in ("queued", "waiting", "running")]
        for order in pending[:max(1, self.c.orders // 800)]:
            self.sandbox.ship(order.platform, order.order_id)
            self._say(f"shipped {order.platform}/{order.order_id}")
            self.log.ships += 1

    def _pushes(self) -> None:
        self.pushes.round(list(self.submitted), self._job_ids())

    def _burst(self, platform: str) -> None:
        world.burst(self.sandbox, platform, self.c.burst_size)
        self.log.bursts += 1

    # --- outcomes ---

    def _job_ids(self, orders: list[world.Order] | None = None) -> dict[tuple[str, str], str]:
        """Each submitted order's job, found by its idempotency key (wire jobs are recorded by the worker)."""
        orders = self.submitted if orders is None else orders
        pipe = self.rt.redis.pipeline(transaction=False)
        for o in orders:
            pipe.get(keys.idempotency(default_idempotency_key(o.platform, o.shop.name, o.order_id, [])))
        return {o.key: str(j) for o, j in zip(orders, pipe.execute(), strict=True) if j}

    def _watched_ids(self) -> list[str]:
        """The jobs of the orders submitted so far (the watch thread's; it learns each job once)."""
        unknown = [o for o in list(self.submitted) if o.key not in self.known_ids]
        if unknown:
            self.known_ids.update(self._job_ids(unknown))
        return list(self.known_ids.values())

    def _states(self, job_ids: list[str]) -> list[str]:
        pipe = self.rt.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "state")
        return [str(s) if s else "missing" for s in pipe.execute()]

    def _drain(self) -> None:
        started = time.monotonic()
        pending = list(self.submitted)
        shown = [0.0]

        def settled() -> bool:
            nonlocal pending
            self._revive()
            ids = self._job_ids(pending)
            states = self._states([ids.get(o.key, "") for o in pending])
            pending = [o for o, s in zip(pending, states, strict=True) if s not in FINAL_STATES]
            if self.verbose and time.monotonic() - shown[0] > 5:
                shown[0] = time.monotonic()
                self._say(f"draining: {len(pending)} jobs not final")
            return not pending

        with contextlib.suppress(AssertionError):  # the report lists what did not finish
            wait_until(settled, timeout_s=self.c.drain_timeout_s, what="every job to be final",
                       poll_s=0.2)  # each poll reads every pending job
        self.log.drain_s = time.monotonic() - started

    def _say(self, what: str) -> None:
        """Log an action with its wall-clock time next to the workers' logs (they carry the same clock)."""
        line = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} [{time.monotonic() - self.t0:6.1f}s] {what}"
        with (self.work / "driver.log").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if self.verbose:
            print(line, file=sys.stderr, flush=True)


def _bind(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: fn(*args)


def run_chaos(config: ChaosConfig, workdir: Path, *, verbose: bool = False) -> Report:
    workdir.mkdir(parents=True, exist_ok=True)
    return ChaosRun(config, workdir, verbose=verbose).run()


def _parse(argv: list[str]) -> tuple[ChaosConfig, Path, bool]:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.driver",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI form (about 260 orders, 3 kills, 2 pauses)")
    parser.add_argument("--workdir", type=Path, help="logs and Valkey data (default: a new temporary directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    for f in fields(ChaosConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(FULL, f.name)), default=None,
                            help=f"default {getattr(FULL, f.name)} ({getattr(SHORT, f.name)} with --short)")
    args = parser.parse_args(argv)
    base = SHORT if args.short else FULL
    config = replace(base, **{f.name: getattr(args, f.name) for f in fields(ChaosConfig)
                              if getattr(args, f.name) is not None})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cancelq-chaos-"))
    return config, workdir, not args.quiet


def main(argv: list[str] | None = None) -> int:
    config, workdir, verbose = _parse(sys.argv[1:] if argv is None else argv)
    print(f"chaos run: {config}\nlogs and data in {workdir}", flush=True)
    report = run_chaos(config, workdir, verbose=verbose)
    print(report.table())
    failures = report.failures()
    print("\n" + ("\n".join(f"FAIL {line}" for line in failures) if failures else "every check passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
