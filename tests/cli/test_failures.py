"""Every expected failure is one ``error:`` line on stderr (and a ``hint:``) with its documented exit code
(docs/cli.md): 1 the work failed or nothing found, 2 refused input, 3 Redis unreachable, 4 timed out. A
traceback only with ``--debug``; a typo is refused before anything is recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.embedded import free_port, server_status, stop_server
from cancelq.core.settings import get_settings
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.campaign_helpers import job_ids, write_csv
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()
CLI = [sys.executable, "-m", "cancelq.cli.main"]


@pytest.fixture()
def cq(redis_client: redis.Redis, sandbox: SandboxClient, sandbox_url: str) -> Iterator[CancelQ]:
    reset_runtime()
    rt = Runtime()
    add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, name="main")
    yield CancelQ(rt)
    rt.session.close()


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _one_error(stderr: str, *parts: str) -> None:
    """Exactly one ``error:`` line, holding every part, and at most a hint besides: no traceback."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and all(part in errors[0] for part in parts), stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), stderr


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def test_redis_down_is_one_line_naming_the_url_without_its_password_and_a_traceback_only_with_debug() -> None:
    url = f"redis://:s3cr3t-pw@127.0.0.1:{free_port()}/0"
    down = _run("dlq", "list", env={"CANCELQ_REDIS_URL": url})
    assert down.returncode == 3 and down.stdout == ""
    _one_error(down.stderr, "cannot reach Redis at redis://127.0.0.1:", "/0")
    assert "s3cr3t-pw" not in down.stderr and "hint: " in down.stderr and "cancelq valkey status" in down.stderr
    debug = _run("--debug", "dlq", "list", env={"CANCELQ_REDIS_URL": url})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConnectionError" in debug.stderr
    assert "s3cr3t-pw" not in debug.stderr + debug.stdout


def test_a_missing_file_a_typo_and_an_ambiguous_choice_are_refused_with_one_line(cq: CancelQ, tmp_path: Path
                                                                                 ) -> None:
    code, _, stderr = _cli("shops", "add", "shopee", "x", "--credentials", f"@{tmp_path / 'nope.json'}")
    assert code == 2
    _one_error(stderr, "no such file:", "nope.json")
    code, _, stderr = _cli("shops", "add", "shopee", "x", "--credentials", "{partner_id: 1")
    assert code == 2
    _one_error(stderr, "--credentials is not a JSON object")
    code, stdout, _ = _cli("shops", "set-budget", "shopee/main", "--max", "3", "--reasons", "out of stock, Pricing-Error")
    assert code == 0 and "at most 3 cancels" in stdout
    code, stdout, _ = _cli("budget", "show", "shopee/main", "--json")
    assert json.loads(stdout)["reasons"] == ["OUT_OF_STOCK", "PRICING_ERROR"]
    code, _, stderr = _cli("shops", "set-budget", "shopee/main", "--max", "3", "--reasons", "out of stok")
    assert code == 2
    _one_error(stderr, "--reasons 'out of stok' is not one of")
    code, _, stderr = _cli("shops", "load", str(tmp_path / "gone.toml"))
    assert code == 2
    _one_error(stderr, "no such file:", "gone.toml")
    code, stdout, stderr = _cli("dlq", "list", "--kind", "exhaust")
    assert code == 2 and stdout == ""
    _one_error(stderr, "--kind 'exhaust' is not one of permanent, exhausted, poison")
    assert "hint: did you mean exhausted?" in stderr
    code, _, stderr = _cli("dlq", "list", "--platform", "shoppe")
    assert code == 2 and "did you mean shopee?" in stderr
    _one_error(stderr, "--platform 'shoppe'")
    code, _, stderr = _cli("dlq", "list", "--since", "yesterday")
    assert code == 2
    _one_error(stderr, "--since takes an ISO date or time")


def test_submit_reads_reasons_loosely_and_refuses_typos_before_anything_is_recorded(cq: CancelQ,
                                                                                    redis_client: redis.Redis) -> None:
    code, stdout, _ = _cli("submit", "--platform", "Shopee", "--shop", "main", "--order", "L-1",
                           "--reason", "out of stock")
    assert code == 0 and "submitted" in stdout
    assert cq.job(stdout.split()[1]).job["reason"] == "OUT_OF_STOCK"
    before = redis_client.dbsize()
    for args, part in ((("--platform", "shoppe", "--reason", "CUSTOMER_REQUEST"), "--platform 'shoppe'"),
                       (("--platform", "shopee", "--reason", "out of stok"), "--reason 'out of stok' is not one of"),
                       (("--platform", "shopee", "--shop", "mian", "--reason", "CUSTOMER_REQUEST"), "no shop 'shopee/mian'"),
                       (("--platform", "shopee", "--reason", "CUSTOMER_REQUEST", "--option", "restock"), "key=value")):
        full = ["--shop", "main", *args] if "--shop" not in args else list(args)
        code, stdout, stderr = _cli("submit", "--order", "T-1", *full)
        assert code == 2 and stdout == ""
        _one_error(stderr, part)
    assert redis_client.dbsize() == before and not redis_client.zcard(keys.REJECTED)


def test_submit_wait_times_out_with_exit_4_and_a_dead_job_exits_1(cq: CancelQ, sandbox: SandboxClient) -> None:
    code, stdout, stderr = _cli("submit", "--platform", "shopee", "--shop", "main", "--order", "W-1",
                                "--reason", "CUSTOMER_REQUEST", "--wait", "0.2")
    assert code == 4 and "submitted" in stdout
    _one_error(stderr, "is still queued after 0.2s")
    sandbox.add_order("shopee", SHOPEE.shop_ref, "W-2", state="shipped")
    handle = cq.submit({"platform": "shopee", "shop": "main", "order_id": "W-2", "reason": "CUSTOMER_REQUEST"})
    JobRun(cq.rt, handle.job_id).run()
    code, stdout, stderr = _cli("submit", "--platform", "shopee", "--shop", "main", "--order", "W-2",
                                "--reason", "CUSTOMER_REQUEST", "--wait", "5")
    assert code == 1 and "already known (dead)" in stdout
    _one_error(stderr, f"job {handle.job_id} ended dead", "not_cancellable")


def test_dlq_since_honours_the_offset_and_list_finds_an_order(cq: CancelQ, sandbox: SandboxClient) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "S-1", state="shipped")
    handle = cq.submit({"platform": "shopee", "shop": "main", "order_id": "S-1", "reason": "CUSTOMER_REQUEST"})
    JobRun(cq.rt, handle.job_id).run()
    plus8 = timezone(timedelta(hours=8))
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).astimezone(plus8).isoformat(timespec="minutes")
    code, stdout, _ = _cli("dlq", "list", "--since", an_hour_ago)
    assert code == 0 and handle.job_id[:8] in stdout and "1 shown" in stdout
    later = (datetime.now(UTC) + timedelta(minutes=5)).astimezone(plus8).isoformat(timespec="minutes")
    code, stdout, _ = _cli("dlq", "list", "--since", later)
    assert code == 0 and "0 shown (none match the filters)" in stdout
    code, stdout, _ = _cli("dlq", "list", "--order", "S-1")
    assert code == 0 and handle.job_id[:8] in stdout and "1 shown" in stdout
    code, stdout, _ = _cli("dlq", "list", "--order", "S-2")
    assert code == 0 and "0 shown" in stdout
    code, stdout, _ = _cli("dlq", "replay", handle.job_id[:6])
    assert code == 0 and f"job {handle.job_id} replayed" in stdout


def test_campaigns_refuse_an_empty_file_time_out_with_4_fail_on_dead_and_log_nothing_into_stdout(
        cq: CancelQ, sandbox: SandboxClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("platform,shop,order_id,reason\n")
    code, _, stderr = _cli("campaign", "run", str(empty))
    assert code == 2 and cq.campaigns() == []
    _one_error(stderr, "has no rows; no campaign was made")

    path = write_csv(tmp_path / "c.csv", [{"platform": "shopee", "shop": "main", "order_id": "C-1",
                                           "reason": "CUSTOMER_REQUEST"}])
    code, _, stderr = _cli("campaign", "run", str(path), "--campaign-id", "c-1", "--wait", "0.2")
    assert code == 4
    _one_error(stderr, "campaign c-1 is still running after 0.2s")
    sandbox.add_order("shopee", SHOPEE.shop_ref, "C-1", state="shipped")
    for job_id in job_ids(cq.rt, "c-1"):
        JobRun(cq.rt, job_id).run()
    assert _cli("campaign", "run", str(path), "--campaign-id", "c-1", "--wait", "5")[0] == 0
    code, _, stderr = _cli("campaign", "run", str(path), "--campaign-id", "c-1", "--wait", "5", "--fail-on-dead")
    assert code == 1
    _one_error(stderr, "campaign c-1 finished with dead 1")
    code, stdout, _ = _cli("campaign", "report", "c-1", "--outcome", "Dead")
    assert code == 0 and len(stdout.splitlines()) == 2 and "C-1" in stdout
    code, stdout, _ = _cli("campaign", "report", "c-1", "--outcome", "succeeded")
    assert code == 0 and len(stdout.splitlines()) == 1
    code, _, stderr = _cli("campaign", "report", "c-1", "--outcome", "deadd")
    assert code == 2 and "hint: did you mean dead?" in stderr

    invalid = write_csv(tmp_path / "bad.csv", [{"platform": "shopee", "shop": "nowhere", "order_id": "B-1",
                                                "reason": "CUSTOMER_REQUEST"}])
    ran = _run("campaign", "run", str(invalid), "--campaign-id", "all-invalid")
    assert ran.returncode == 0, ran.stderr
    assert "campaign all-invalid started" in ran.stdout and "campaign_finished" not in ran.stdout + ran.stderr
    assert all(not line.startswith(("{", "20")) for line in ran.stdout.splitlines()), ran.stdout


def test_a_dry_run_says_what_it_found_and_previews_are_not_ok(cq: CancelQ, sandbox: SandboxClient,
                                                              tmp_path: Path) -> None:
    states = {"D-1": "cancellable", "D-2": "cancellable", "D-3": "cancelled", "D-4": "shipped"}
    for order, state in states.items():
        sandbox.add_order("shopee", SHOPEE.shop_ref, order, state=state)
    path = write_csv(tmp_path / "d.csv", [{"platform": "shopee", "shop": "main", "order_id": o, "reason": "CUSTOMER_REQUEST"}
                                          for o in states])
    cq.run_campaign(path, campaign_id="dry-1", dry_run=True)
    for job_id in job_ids(cq.rt, "dry-1"):
        JobRun(cq.rt, job_id).run()
    code, stdout, _ = _cli("campaign", "status", "dry-1")
    text = " ".join(stdout.split())
    assert code == 0 and "previewed=4" in text
    assert ("dry run: would cancel 2, would accept a buyer's request 0, already cancelled 1, cannot cancel 1"
            in text), text
    code, stdout, _ = _cli("campaign", "list")
    assert code == 0 and "ok=0" in stdout and "previewed=4" in stdout
    code, stdout, _ = _cli("campaign", "status", "dry-1", "--watch")
    assert code == 0 and any(line.startswith("dry run: would cancel 2,") for line in stdout.splitlines()), stdout


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings with no Redis URL and a data directory where no server ever ran (the process's own restored
    afterwards)."""
    data_dir = tmp_path / "elsewhere" / ".cancelq"
    monkeypatch.setenv("CANCELQ_REDIS_URL", "")
    monkeypatch.setenv("CANCELQ_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    reset_runtime()
    yield data_dir
    stop_server(data_dir)
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_runtime()


def test_valkey_status_and_a_directory_without_a_server_refuses_instead_of_starting_a_second_one(
        elsewhere: Path) -> None:
    code, _, stderr = _cli("dlq", "list")
    assert code == 3 and not elsewhere.exists()
    _one_error(stderr, "no embedded Valkey in", str(elsewhere))
    assert "CANCELQ_DATA_DIR" in stderr and "CANCELQ_REDIS_URL" in stderr
    code, stdout, _ = _cli("valkey", "status")
    assert code == 1 and "not running" in stdout
    code, stdout, _ = _cli("valkey", "start")
    assert code == 0 and "started at redis://127.0.0.1:" in stdout
    code, stdout, stderr = _cli("dlq", "list")
    assert code == 0 and "0 shown" in stdout and stderr == ""
    code, stdout, _ = _cli("valkey", "status", "--json")
    status = json.loads(stdout)
    assert code == 0 and status["running"] and status["data_dir"] == str(elsewhere) and status["pid"] > 0
    code, stdout, _ = _cli("valkey", "stop")
    assert code == 0 and f"pid {status['pid']}" in stdout and not server_status(elsewhere).running
    reset_runtime()
    code, stdout, stderr = _cli("dlq", "list")
    assert code == 0 and f"started the embedded Valkey of {elsewhere}" in stderr
    assert _cli("valkey", "stop")[0] == 0
    code, _, stderr = _cli("valkey", "stop")
    assert code == 1
    _one_error(stderr, "no embedded Valkey runs in")


def test_the_first_shops_load_in_a_new_place_starts_a_server_and_says_so(elsewhere: Path, tmp_path: Path) -> None:
    listing = tmp_path / "shops.json"
    listing.write_text(json.dumps([{"platform": "shopee", "name": "sg", "credentials": dict(SHOPEE.credentials)}]))
    code, stdout, stderr = _cli("shops", "load", str(listing))
    assert code == 0 and stdout == "1 shops loaded\n"
    assert f"started the embedded Valkey of {elsewhere} at redis://127.0.0.1:" in stderr and "new data directory" in stderr
    assert server_status(elsewhere).running
