"""The command groups one by one (typer's runner, real Valkey), and the two ways the CLI is started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.runtime import reset_runtime
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()
COMMANDS = ("worker", "submit", "pause", "resume", "status", "sandbox", "demo", "metrics", "health", "flower",
            "job", "dlq", "shops", "campaign")


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_python_dash_m_lists_every_command_in_order_without_loading_celery_or_the_sandbox() -> None:
    result = subprocess.run([sys.executable, "-m", "cancelq.cli.main", "--help"], capture_output=True, text=True,
                            timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and line.split()
              and line.split()[0] in COMMANDS]
    assert listed == list(COMMANDS)

    probe = "import sys, cancelq.cli.main; print(sorted(m for m in ('cancelq.worker.app', 'aiohttp') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_shops_group_adds_limits_renews_shows_loads_and_removes(redis_client: redis.Redis, tmp_path: Path) -> None:
    reset_runtime()
    credentials = json.dumps(dict(SHOPEE.credentials))
    assert _cli("shops", "add", "shopee", "sg", "--credentials", credentials) == (0, "shop shopee/sg saved\n")
    assert _cli("shops", "set-limit", "shopee", "sg", "--rate", "5", "--burst", "3") == (
        0, "shop shopee/sg: 5/s, burst 3\n")
    code, output = _cli("status", "--json")
    assert code == 0 and json.loads(output)["limits"]["shopee/sg"] == {"rate_per_s": 5.0, "burst": 3,
                                                                       "per_api": False}
    new_token = "renewed-access-token-0123456789"
    assert _cli("shops", "set-token", "shopee", "sg", "--access-token", new_token, "--expires-in", "600") == (
        0, "shop shopee/sg: new tokens saved\n")
    code, shown = _cli("shops", "show", "shopee", "sg")
    assert code == 0 and json.loads(shown)["token_expires_at"] is not None
    assert all(secret not in shown for secret in (*SHOPEE.secrets, new_token))

    assert _cli("shops", "remove", "shopee", "sg") == (0, "shop shopee/sg removed\n")
    code, output = _cli("shops", "remove", "shopee", "sg")
    assert code == 2 and "no shop 'shopee/sg' in the registry" in output
    listing = tmp_path / "shops.json"
    listing.write_text(json.dumps([{"platform": "shopee", "name": "sg2", "credentials": dict(SHOPEE.credentials)}]))
    assert _cli("shops", "load", str(listing)) == (0, "1 shops loaded\n")
    code, output = _cli("shops", "load", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in output


def test_job_group_lists_a_rejected_job_and_shows_it_as_json(redis_client: redis.Redis) -> None:
    reset_runtime()
    handle = CancelQ().submit({"platform": "shopee", "shop": "nowhere", "order_id": "R-1", "reason": "OTHER",
                               "options": {"restock": True, "note": "plain text"}})
    assert handle.rejected
    job_id = handle.job_id
    code, output = _cli("job", "rejected")
    assert code == 0 and job_id[:8] in output and "nowhere" in output
    code, output = _cli("job", "show", job_id, "--json")
    record = json.loads(output)
    assert code == 0 and record["state"] == "rejected"
    assert record["job"]["options"] == {"restock": True, "note": "plain text"}


def test_dlq_and_fleet_commands_refuse_what_they_cannot_do(redis_client: redis.Redis) -> None:
    reset_runtime()
    code, output = _cli("dlq", "show", "nope")
    assert code == 1 and "no dead letter nope" in output
    code, output = _cli("dlq", "replay")
    assert code == 2 and "name a job id, or --all" in output
    code, output = _cli("dlq", "export", "--format", "xml")
    assert code == 2 and "--format is csv or jsonl" in output
    code, output = _cli("pause", "--platform", "shopee", "--shop", "shopee/sg")
    assert code == 2 and "name exactly one scope" in output
    code, output = _cli("resume", "--all")
    assert code == 1 and "all was not paused" in output
