"""Unconfirmed cancels as operators see them: ``cancelq status`` (text and JSON)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.pushes.pushing import unconfirmed_job


def test_cancelq_status_lists_the_cancels_the_platform_has_not_confirmed(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    runner = CliRunner()
    quiet = runner.invoke(app, ["status"])
    assert quiet.exit_code == 0 and "not confirmed by the platform within 600s: none" in quiet.output
    job_id = unconfirmed_job(rt, sandbox, sandbox_url)
    text = runner.invoke(app, ["status"])
    assert text.exit_code == 0, text.output
    assert f"shopee/shopee-shop order UNC-1: job {job_id}" in text.output
    data = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert [u["job_id"] for u in data["unconfirmed"]] == [job_id] and data["pushes"] == {"watched": 0,
                                                                                           "unconfirmed": 1}
