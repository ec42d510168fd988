"""The cancelq command line, run as a user would (typer's runner, real Valkey, real sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.core import keys
from cancelq.runtime import get_runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_shops_submit_job_show_and_dead_letters(redis_client: redis.Redis, sandbox: SandboxClient, sandbox_url: str,
                                                tmp_path: Path) -> None:
    reset_runtime()
    sandbox.add_shop("shopee", **SHOPEE.shop_spec)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "CLI-1", state="shipped")
    creds = tmp_path / "shopee.json"
    creds.write_text(json.dumps(dict(SHOPEE.credentials)))
    assert _cli("shops", "add", "shopee", "sg-main", "--credentials", f"@{creds}", "--base-url", sandbox_url)[0] == 0
    code, listing = _cli("shops", "list")
    assert code == 0 and "sg-main" in listing
    assert all(secret not in listing for secret in SHOPEE.secrets)

    code, output = _cli("submit", "--platform", "shopee", "--shop", "sg-main", "--order", "CLI-1",
                        "--reason", "customer_request")
    assert code == 0 and "submitted" in output
    job_id = output.split()[1]
    code, output = _cli("submit", "--platform", "shopee", "--shop", "sg-main", "--order", "CLI-1",
                        "--reason", "CUSTOMER_REQUEST")
    assert code == 0 and "already known" in output

    JobRun(get_runtime(), job_id).run()
    code, output = _cli("job", "show", job_id)
    assert code == 0 and "state=dead" in output and "not_cancellable" in output

    code, output = _cli("dlq", "list", "--platform", "shopee")
    assert code == 0 and job_id[:8] in output
    code, output = _cli("dlq", "export", "--format", "csv")
    assert code == 0 and output.startswith("job_id,kind,platform") and job_id in output
    sandbox.add_order("shopee", SHOPEE.shop_ref, "CLI-1", state="cancellable")
    code, output = _cli("dlq", "replay", job_id)
    assert code == 0 and "1 replayed" in output
    JobRun(get_runtime(), job_id).run()
    assert get_runtime().ledger.get(job_id).state == "succeeded"  # type: ignore[union-attr]
    assert _cli("dlq", "purge")[0] == 2


def test_bad_input_is_refused_with_a_clear_message(redis_client: redis.Redis) -> None:
    reset_runtime()
    code, output = _cli("submit", "--platform", "shopee", "--shop", "nowhere", "--order", "1", "--reason", "OTHER")
    assert code == 2 and "no shop 'shopee/nowhere'" in output and "nothing was recorded" in output
    assert not redis_client.zcard(keys.REJECTED)
    code, output = _cli("submit", "--platform", "shopee", "--shop", "x", "--order", "1", "--reason", "OTHER",
                        "--item", "{not json")
    assert code == 2 and "--item must be JSON" in output
    code, output = _cli("job", "show", "nope")
    assert code == 1 and "no job nope" in output
    code, output = _cli("dlq", "list", "--since", "yesterday")
    assert code == 2 and "--since takes an ISO date" in output
