"""Operators' tools against real things: metrics (read with prometheus_client's own parser), health, Flower.

Workers and Flower run as real processes on the session's Valkey; jobs run against the sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cancelq.client import CancelQ, JobHandle
from cancelq.core import counters, keys
from cancelq.core.embedded import free_port
from cancelq.core.settings import Settings
from cancelq.gate import controls
from cancelq.gate.circuits import Circuits
from cancelq.gate.limits import Gate
from cancelq.jobs.deadletters import DeadLetters
from cancelq.jobs.delayed import Delayed
from cancelq.jobs.ledger import JobRecord, Ledger
from cancelq.ops import metrics
from cancelq.ops.flower import FlowerConfigError, FlowerOptions, flower_launch
from cancelq.ops.health import Probe, check_health
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, wait_until
from tests.kits.shopee import KIT as SHOPEE

CANCELQ = str(Path(sys.executable).parent / "cancelq")
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-pw-7Qx"
JOB_FAMILIES = ("cancelq_jobs_finished", "cancelq_step_duration_seconds", "cancelq_retries", "cancelq_waits",
                "cancelq_jobs_submitted",
                "cancelq_limiter_wait_seconds", "cancelq_token_refreshes", "cancelq_jobs_running")


def _cancelq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``cancelq`` entry point, as an operator or a probe runs it."""
    return subprocess.run([CANCELQ, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def _samples(text: str) -> dict[str, list[Sample]]:
    """Family name -> samples, parsed by the official parser (which fails on a malformed exposition)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _value(families: dict[str, list[Sample]], family: str, sample: str | None = None, **labels: str) -> float | None:
    for s in families.get(family, []):
        if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


def _shopee_shop(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> str:
    sandbox.add_shop("shopee", **SHOPEE.shop_spec)
    client.rt.shops.add("shopee", "sg-main", dict(SHOPEE.credentials), base_url=sandbox_url)
    return "sg-main"


def _job(order_id: str, shop: str = "sg-main") -> dict[str, Any]:
    return {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST"}


# --- the metrics API and the fleet state -------------------------------------------------------------------------

def test_metrics_functions_count_with_bounded_labels() -> None:
    def scrape() -> dict[str, list[Sample]]:
        return _samples(generate_latest(REGISTRY).decode())

    before = scrape()
    counters.job_finished("shopee", "dead", "error_param")
    counters.job_finished("shopee", "succeeded")
    counters.step_observed("lazada", "validate", 0.12, ok=True)
    counters.step_observed("lazada", "validate", 3.0, ok=False)
    counters.wait_scheduled("shopline", "RateLimited", "rate_limited", counts=False)
    counters.wait_scheduled("shopline", "Deferred", "paused:shop:shopline/outlet", counts=False)
    counters.wait_scheduled("shopline", "TransientError", "error_server", counts=True)
    counters.wait_scheduled("shopline", "ValueError", "unexpected ValueError", counts=True)
    counters.jobs_submitted("api", "created", 3)
    counters.jobs_submitted(None, "rejected")
    counters.limiter_wait("shoplazza", 0.2)
    counters.limiter_wait("shoplazza", 42.0, why="cooldown")
    counters.token_refresh("lazada", ok=True)
    counters.token_refresh("lazada", ok=False)
    after = scrape()

    def delta(family: str, sample: str | None = None, **labels: str) -> float:
        return (_value(after, family, sample, **labels) or 0.0) - (_value(before, family, sample, **labels) or 0.0)

    jobs = "cancelq_jobs_finished"
    assert delta(jobs, f"{jobs}_total", platform="shopee", outcome="dead", code="error_param") == 1
    assert delta(jobs, f"{jobs}_total", platform="shopee", outcome="succeeded", code="") == 1
    steps = "cancelq_step_duration_seconds"
    assert delta(steps, f"{steps}_count", platform="lazada", step="validate", result="ok") == 1
    assert delta(steps, f"{steps}_count", platform="lazada", step="validate", result="error") == 1
    assert delta(steps, f"{steps}_bucket", platform="lazada", step="validate", result="error", le="2.5") == 0
    held = "cancelq_waits"
    assert delta(held, f"{held}_total", platform="shopline", why="rate_limited") == 1
    # a reason's detail (a shop name, an exception class) never becomes a label value
    assert delta(held, f"{held}_total", platform="shopline", why="paused") == 1
    retries = "cancelq_retries"
    assert delta(retries, f"{retries}_total", platform="shopline", error_class="TransientError") == 1
    assert delta(retries, f"{retries}_total", platform="shopline", error_class="ValueError") == 1
    assert delta(retries, f"{retries}_total", platform="shopline", error_class="RateLimited") == 0
    submitted = "cancelq_jobs_submitted"
    assert delta(submitted, f"{submitted}_total", source="api", result="created") == 3
    assert delta(submitted, f"{submitted}_total", source="unspecified", result="rejected") == 1
    waits = "cancelq_limiter_wait_seconds"
    assert delta(waits, f"{waits}_count", platform="shoplazza", why="rate_limit") == 1
    assert delta(waits, f"{waits}_sum", platform="shoplazza", why="cooldown") == pytest.approx(42.0)
    refreshes = "cancelq_token_refreshes"
    assert delta(refreshes, f"{refreshes}_total", platform="lazada", result="ok") == 1
    assert delta(refreshes, f"{refreshes}_total", platform="lazada", result="failed") == 1
    assert not any(s.name.endswith("_created") for samples in after.values() for s in samples)


def _dead_letter(client: redis.Redis, job_id: str, error: dict[str, Any], kind: str,
                 order_id: str | None = None) -> None:
    """A running job dead-lettered the way a delivery does it: its final state and its entry in one write."""
    record = JobRecord(job_id=job_id, state="running", job=_job(order_id or job_id), fence="1")
    client.hset(keys.job(job_id), mapping={"job_id": job_id, "state": "running", "fence": "1",
                                           "job": json.dumps(record.job)})
    dead = DeadLetters(client)
    Ledger(client).finish(record, state="dead", fields={"dead_kind": kind, "last_error": error}, event={}, index=keys.DLQ,
                          dead_letter=dead.write_for(dead.entry_for(record, error, kind)))


def _seed_fleet_state(client: redis.Redis) -> None:
    """Two dead letters, a delayed job and an overdue one, a rejected job, three queued messages,
    a live worker's heartbeat, a pause, a cooldown and an open circuit, each through the code that writes it."""
    from cancelq.worker.app import app

    for job_id in ("dead-1", "dead-2"):
        _dead_letter(client, job_id, {"error_class": "PermanentError", "code": "error_param"}, "permanent")
    Delayed(client).schedule("later-1", 4_102_444_800_000)
    now_ms = int(client.time()[0]) * 1000
    Delayed(client).schedule("overdue-1", now_ms - 60_000)
    Ledger(client).reject({"platform": "nope"}, "platform: unknown", source="test")
    client.set(keys.worker("w9@elsewhere"), now_ms, ex=60)
    for i in range(3):
        app.send_task("cancelq.cancel", args=[{"job_id": f"queued-{i}"}], queue="cancelq")
    controls.pause(client, controls.scope_name("shop", "shopee/sg-main"), "test")
    Gate(client).cool_down("shopline:outlet", 30.0)
    Circuits(client).failure("lazada", "vn-store", store_locked=True)


def test_cancelq_metrics_prints_the_fleet_state(redis_client: redis.Redis) -> None:
    _seed_fleet_state(redis_client)

    result = _cancelq("metrics")

    assert result.returncode == 0, result.stderr
    families = _samples(result.stdout)
    expected = {"cancelq_redis_up": 1, "cancelq_broker_up": 1, "cancelq_dead_letters": 2, "cancelq_delayed": 2,
                "cancelq_overdue": 1, "cancelq_rejected": 1, "cancelq_workers": 1,
                "cancelq_queue_depth": 3, "cancelq_paused_scopes": 1, "cancelq_cooldowns": 1,
                "cancelq_open_circuits": 1}
    assert {name: _value(families, name) for name in expected} == expected
    assert 60 <= (_value(families, "cancelq_oldest_waiting_seconds") or 0) < 120  # the overdue timer, due 60 s ago
    assert _value(families, "cancelq_paused", scope="shop:shopee/sg-main") == 1
    assert _value(families, "cancelq_circuit_open", scope="lazada:vn-store") == 1
    assert 25 < (_value(families, "cancelq_cooldown_seconds", scope="shopline:outlet") or 0) <= 30
    assert set(JOB_FAMILIES) <= set(families)  # the process's own families, declared even before a job ran
    assert "process_cpu_seconds" in families


def test_metrics_report_an_unreachable_redis_instead_of_failing() -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    collector = metrics.StateCollector(lambda: redis.Redis.from_url(dead_url, socket_connect_timeout=0.5),
                                       broker_url=dead_url, queue="cancelq")

    families = _samples(generate_latest(_registry_of(collector)).decode())

    assert _value(families, "cancelq_redis_up") == 0
    assert _value(families, "cancelq_broker_up") == 0
    assert "cancelq_dead_letters" not in families


def _registry_of(collector: metrics.StateCollector) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_a_prefork_worker_serves_its_childrens_metrics(redis_client: redis.Redis, sandbox: SandboxClient,
                                                      sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    runtime = Runtime()
    client = CancelQ(runtime)
    _shopee_shop(client, sandbox, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "PF-1", state="cancellable")
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    port = free_port()
    env = {**os.environ, "CANCELQ_METRICS_PORT": str(port), "CANCELQ_METRICS_HOST": "127.0.0.1",
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([CANCELQ, "worker", "--pool", "prefork", "--concurrency", "2", "--hostname",
                                   "prefork@test"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert client.submit(_job("PF-1")).wait(timeout_s=30, poll_s=0.02).state == "succeeded"
        families = wait_until(lambda: _scrape(port), timeout_s=10, what="the prefork worker's /metrics")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        runtime.session.close()

    assert _value(families, "cancelq_jobs_finished", "cancelq_jobs_finished_total", platform="shopee",
                  outcome="succeeded", code="") == 1, (tmp_path / "worker.log").read_text()[-2000:]
    assert _value(families, "cancelq_workers") == 1
    assert list(multiproc_dir.glob("counter_*.db")), "the children wrote their counters to the directory"


def _scrape(port: int) -> dict[str, list[Sample]] | None:
    try:
        reply = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except requests.ConnectionError:
        return None
    families = _samples(reply.text) if reply.ok else {}
    return families if _value(families, "cancelq_jobs_finished", "cancelq_jobs_finished_total", platform="shopee",
                              outcome="succeeded", code="") else None


# --- the health probe -------------------------------------------------------------------------------------

def test_health_fails_without_a_live_worker_and_says_so(redis_client: redis.Redis) -> None:
    result = _cancelq("health")

    assert result.returncode == 1
    assert "FAIL workers: 0 live worker(s), fewer than 1: no heartbeat keys {cq}:worker:*" in result.stdout
    assert result.stdout.strip().endswith("unhealthy: workers")


def test_health_fails_when_the_broker_is_unreachable_without_showing_its_password(redis_client: redis.Redis) -> None:
    redis_client.set(keys.worker("w1@somewhere"), 1, ex=60)
    broker = f"redis://:broker-pw-91x@127.0.0.1:{free_port()}/0"

    result = _cancelq("health", "--json", env={"CANCELQ_BROKER_URL": broker})

    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    failed = {c["name"]: c["detail"] for c in verdict["checks"] if not c["ok"]}
    assert list(failed) == ["broker"]
    assert "unreachable" in failed["broker"] and "Connection refused" in failed["broker"]
    assert "broker-pw-91x" not in result.stdout + result.stderr


def test_health_fails_when_the_dead_letters_pass_the_threshold(redis_client: redis.Redis) -> None:
    for i in range(3):
        _dead_letter(redis_client, f"d{i}", {"error_class": "TransientError", "code": "error_server"}, "exhausted",
                     order_id=f"D-{i}")

    over = _cancelq("health", "--min-workers", "0", "--max-dead-letters", "2")
    at_limit = check_health(Settings(), Probe(min_workers=0, max_dead_letters=3))
    never = check_health(Settings(), Probe(min_workers=0, max_dead_letters=-1))

    assert over.returncode == 1
    assert "FAIL dead_letters: 3 dead letter(s), above the threshold of 2 (cancelq dlq list)" in over.stdout
    assert at_limit.healthy, at_limit.to_dict()
    assert never.healthy and never.checks[-1].detail == "3 dead letter(s) (no threshold)"


def test_health_with_redis_down_fails_every_check_that_needs_it() -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"

    health = check_health(Settings(redis_url=dead_url), Probe(timeout_s=0.5))

    assert not health.healthy
    assert [(c.name, c.ok) for c in health.checks] == [
        ("redis", False), ("broker", False), ("workers", False), ("dead_letters", False)]
    assert health.checks[2].detail == "unknown: Redis is unreachable"


# --- Flower -----------------------------------------------------------------------------------------------------

def test_flower_will_not_start_without_credentials(tmp_path: Path) -> None:
    result = _cancelq("flower", "--port", str(free_port()), "--db", str(tmp_path / "flower.db"),
                      env={"CANCELQ_FLOWER_BASIC_AUTH": ""})

    assert result.returncode == 2
    assert "set CANCELQ_FLOWER_BASIC_AUTH=user:password" in result.stderr and "--no-auth" in result.stderr
    assert not list(tmp_path.iterdir())


def test_flower_gets_its_credentials_through_the_environment_only(tmp_path: Path) -> None:
    settings = Settings(flower_basic_auth="ops:pw-in-env-only", data_dir=tmp_path)

    launch = flower_launch(settings, FlowerOptions(extra=["--purge_offline_workers=600"]))
    open_one = flower_launch(Settings(data_dir=tmp_path), FlowerOptions(no_auth=True, read_only=True))

    assert launch.env == {"FLOWER_BASIC_AUTH": "ops:pw-in-env-only"}
    assert not [a for a in launch.argv if "pw-in-env-only" in a] and "pw-in-env-only" not in repr(launch)
    assert {"--persistent=True", f"--db={(tmp_path / 'flower.db').resolve()}", "--port=5555",
            "--purge_offline_workers=600"} <= set(launch.argv)
    assert open_one.env == {} and "--read_only=True" in open_one.argv
    with pytest.raises(FlowerConfigError, match="user:password"):
        flower_launch(Settings(flower_basic_auth="just-a-password"), FlowerOptions())


@dataclass
class Flower:
    url: str
    db: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> Flower:
        return self.launch(log).wait_ready(log)

    def launch(self, log: Path) -> Flower:
        port = self.url.rsplit(":", 1)[1]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [CANCELQ, "flower", "--port", port, "--address", "127.0.0.1", "--db", str(self.db)],
                stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "CANCELQ_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}"})
        return self

    def wait_ready(self, log: Path) -> Flower:
        wait_until(lambda: self._answers() or self.proc is None or self.proc.poll() is not None, timeout_s=20,
                   what="Flower's /healthcheck")
        assert self.proc is not None and self.proc.poll() is None, log.read_text()[-2000:]
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthcheck", timeout=1).text == "OK"
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)

    def tasks(self, **query: str) -> dict[str, dict[str, Any]]:
        reply = requests.get(f"{self.url}/api/tasks", params=query, auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=5)
        reply.raise_for_status()
        tasks: dict[str, dict[str, Any]] = reply.json()
        return tasks

    def task_for(self, order_id: str, state: str) -> dict[str, Any] | None:
        found = [t for t in self.tasks(taskname="cancelq.cancel").values()
                 if f"order={order_id} " in str(t.get("args")) and t.get("state") == state]
        return found[0] if found else None


@dataclass
class Fleet:
    flower: Flower
    metrics_port: int
    worker: str = "fleet@test"

    def scrape(self) -> dict[str, list[Sample]]:
        reply = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
        reply.raise_for_status()
        return _samples(reply.text)


@pytest.fixture(scope="module")
def fleet(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One worker (serving /metrics) and Flower on the session's Valkey, shared by the tests below.

    They come last in this module and never flush Redis: the worker's heartbeat key must stay.
    """
    redis.Redis.from_url(redis_url).flushall()
    logs = tmp_path_factory.mktemp("fleet")
    port = free_port()
    env = {"CANCELQ_METRICS_PORT": str(port), "CANCELQ_METRICS_HOST": "127.0.0.1",
           "CANCELQ_METRICS_STATE_CACHE_S": "0"}
    flower = Flower(url=f"http://127.0.0.1:{free_port()}", db=logs / "state" / "flower.db")
    flower.launch(logs / "flower.log")  # starts while the worker does
    with WorkerProcess(logs / "worker.log", redis_url, name="fleet", env=env):
        try:
            flower.wait_ready(logs / "flower.log")
            _flower_sees_events(flower)
            yield Fleet(flower, port)
        finally:
            flower.stop()


def _flower_sees_events(flower: Flower) -> None:
    """Flower answers HTTP before its event receiver is connected: send probes until one shows."""
    from cancelq.worker.app import app

    def probe_seen() -> bool:
        app.send_task("cancelq.cancel", args=[{"job_id": "flower-probe"}], queue="cancelq",
                      argsrepr="flower probe")
        return any(t.get("args") == "flower probe" for t in flower.tasks().values())

    wait_until(probe_seen, timeout_s=20, what="Flower receiving the worker's task events")


@pytest.fixture()
def fleet_client(fleet: Fleet, sandbox: SandboxClient, sandbox_url: str) -> Iterator[CancelQ]:
    runtime = Runtime()
    client = CancelQ(runtime)
    _shopee_shop(client, sandbox, sandbox_url)
    yield client
    runtime.session.close()


def _submit(client: CancelQ, order_id: str) -> JobHandle:
    handle = client.submit(_job(order_id))
    assert handle.created
    return handle


def test_worker_serves_metrics_and_is_healthy(fleet: Fleet, fleet_client: CancelQ, sandbox: SandboxClient) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "MET-1", state="cancellable")
    before = fleet.scrape()
    assert _submit(fleet_client, "MET-1").wait(timeout_s=20, poll_s=0.02).state == "succeeded"

    after = fleet.scrape()
    health = _cancelq("health", "--json", "--worker", fleet.worker, "--ping")

    assert _value(after, "cancelq_workers") == 1
    assert _value(after, "cancelq_redis_up") == 1 and _value(after, "cancelq_queue_depth") == 0
    assert set(JOB_FAMILIES) <= set(after)

    def delta(family: str, sample: str, **labels: str) -> float:
        return (_value(after, family, sample, **labels) or 0.0) - (_value(before, family, sample, **labels) or 0.0)

    assert delta("cancelq_jobs_finished", "cancelq_jobs_finished_total", platform="shopee", outcome="succeeded",
                 code="") == 1, "cancel.py must call counters.job_finished (see cancelq/ops/metrics.py)"
    assert delta("cancelq_step_duration_seconds", "cancelq_step_duration_seconds_count", platform="shopee",
                 step="cancel", result="ok") == 1
    assert health.returncode == 0, health.stdout + health.stderr
    verdict = json.loads(health.stdout)
    assert verdict["healthy"] is True
    assert {c["name"]: c["ok"] for c in verdict["checks"]} == {
        "redis": True, "broker": True, "workers": True, "ping": True, "dead_letters": True}


def test_flower_lists_the_cancel_task_with_readable_args_and_no_secret(fleet: Fleet, fleet_client: CancelQ,
                                                                       sandbox: SandboxClient) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "FLW-1", state="cancellable")
    handle = _submit(fleet_client, "FLW-1")
    assert handle.wait(timeout_s=20, poll_s=0.02).state == "succeeded"

    task = wait_until(lambda: fleet.flower.task_for("FLW-1", "SUCCESS"), timeout_s=15, what="the task in Flower")

    assert task["name"] == "cancelq.cancel" and task["worker"] == fleet.worker
    args = str(task["args"])
    assert "shopee/sg-main order=FLW-1 reason=CUSTOMER_REQUEST" in args
    assert handle.job_id in args, f"publish() must put the job id in argsrepr; Flower shows {args!r}"
    everything = json.dumps(fleet.flower.tasks())
    assert not [secret for secret in SHOPEE.secrets if secret in everything]
    assert requests.get(f"{fleet.flower.url}/api/tasks", timeout=5).status_code == 401
    assert requests.get(f"{fleet.flower.url}/api/tasks", auth=(FLOWER_USER, "wrong"), timeout=5).status_code == 401


def test_flower_shows_a_dead_letter_as_a_failure_with_its_class_and_code(fleet: Fleet, fleet_client: CancelQ,
                                                                         sandbox: SandboxClient) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "FLW-SHIPPED", state="shipped")
    handle = _submit(fleet_client, "FLW-SHIPPED")
    assert handle.wait(timeout_s=20, poll_s=0.02).state == "dead"
    entry = fleet_client.dead_letter(handle.job_id)
    assert entry is not None

    task = wait_until(lambda: fleet.flower.task_for("FLW-SHIPPED", "FAILURE"), timeout_s=15,
                      what="the dead-lettered run listed as FAILURE in Flower (cancel.py must raise "
                           "flower_events.dead_lettered(...) at the end of a dead-lettered run)")

    error = entry["error"]
    assert error["error_class"] in task["exception"] and f"[{error['code']}]" in task["exception"]
    assert "DeadLettered" in task["exception"]


def test_flower_keeps_its_task_history_across_a_restart(fleet: Fleet, fleet_client: CancelQ,
                                                         sandbox: SandboxClient, tmp_path: Path) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "FLW-KEEP", state="cancellable")
    assert _submit(fleet_client, "FLW-KEEP").wait(timeout_s=20, poll_s=0.02).state == "succeeded"
    before = wait_until(lambda: fleet.flower.task_for("FLW-KEEP", "SUCCESS"), timeout_s=15, what="the task in Flower")

    fleet.flower.stop()
    fleet.flower.start(tmp_path / "flower-restarted.log")

    kept = fleet.flower.tasks()
    assert before["uuid"] in kept and kept[before["uuid"]]["state"] == "SUCCESS"
