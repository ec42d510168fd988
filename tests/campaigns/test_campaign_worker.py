"""Campaigns end to end: the CLI, a real worker process, the sandbox, the report, redo-failed and abort."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.core.settings import get_settings
from cancelq.runtime import reset_runtime
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import add_shops, job_ids, ledger_states, row, seed, write_csv
from tests.helpers import WorkerProcess, wait_until

from .test_campaign_controls import HOOK_PATH, Hooks

runner = CliRunner()
SLOW_CALLS = {"CANCELQ_HTTP_READ_TIMEOUT_S": "10", "CANCELQ_TASK_TIME_LIMIT_S": "10", "CANCELQ_LEASE_S": "12"}


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    return add_shops(client.rt, sandbox, sandbox_url)


@pytest.fixture()
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    """A receiver verifying signatures, on loopback (allowed here and in the workers these tests start)."""
    monkeypatch.setenv("CANCELQ_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    reset_runtime()
    receiver = Hooks(path=HOOK_PATH)
    yield receiver
    receiver.close()
    monkeypatch.delenv("CANCELQ_WEBHOOK_ALLOW_PRIVATE")
    get_settings.cache_clear()
    reset_runtime()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_campaign_from_file_to_report_then_redo_failed(client: CancelQ, shops: dict[str, str],
                                                         sandbox: SandboxClient, hooks: Hooks, tmp_path: Path,
                                                         redis_url: str) -> None:
    orders = [("shopee", "S-0", "cancellable"), ("shopee", "S-1", "cancelled"), ("lazada", "L-0", "cancellable"),
              ("lazada", "L-1", "shipped"), ("shopline", "P-0", "cancellable"), ("shopline", "P-1", "cancellable"),
              ("shoplazza", "Z-0", "cancellable"), ("shoplazza", "Z-1", "cancellable")]
    seed(sandbox, orders)
    sandbox.fault("shoplazza", "error", endpoint="cancel_order", order_id="Z-1", http_status=500, times=None)
    rows = [row(p, shops, o, "OUT_OF_STOCK") for p, o, _ in orders]
    rows.insert(3, row("shopee", shops, "S-9", "PRICING_ERROR"))
    path = write_csv(tmp_path / "campaign.csv", rows)
    # the worker delivers while `campaign run --wait` still holds the secret it prints: refused until this test
    # reads it, then retried (every 0.5 s here) with the same webhook-id
    hook_env = {"CANCELQ_WEBHOOK_ALLOW_PRIVATE": "true", "CANCELQ_WEBHOOK_RETRY_SCHEDULE_S": json.dumps([0.5] * 40)}
    with WorkerProcess(tmp_path / "worker.log", redis_url, env=hook_env):
        code, output = _cli("campaign", "run", str(path), "--webhook", hooks.url, "--wait", "30")
        assert code == 0, output
        assert "line 5:" in output and "PRICING_ERROR" in output
        assert "s3cr3t-hook-token" not in output
        campaign_id = output.split("campaign ", 1)[1].split()[0]
        hooks.secrets = [output.split("secret: ", 1)[1].split()[0]]
        wait_until(lambda: hooks.received, what="the completion webhook")
        code, listing = _cli("campaign", "list")
        assert code == 0 and campaign_id in listing

        report_path = tmp_path / "report.csv"
        assert _cli("campaign", "report", campaign_id, "--out", str(report_path))[0] == 0
        report = _report(report_path)
        ids = job_ids(client.rt, campaign_id)
        ledger = ledger_states(client.rt, ids)
        counted = Counter(r["outcome"] for r in report if r["job_id"] and not r["note"])
        campaign = client.campaign(campaign_id)
        assert counted == ledger == Counter({"succeeded": 5, "already_cancelled": 1, "dead": 2})
        assert {k: campaign.counts[k] for k in ledger} == dict(ledger) and campaign.finished
        by_order = {r["order_id"]: r for r in report}
        assert by_order["S-9"]["outcome"] == "invalid" and by_order["S-9"]["line"] == "5"
        assert by_order["Z-1"]["outcome"] == "dead" and by_order["Z-1"]["attempts"] == "4"
        assert by_order["L-1"]["code"] == "not_cancellable"
        assert len(hooks.received) == 1 and hooks.received[0]["body"]["data"]["dead"] == 2
        assert hooks.received[0]["body"]["data"]["campaign_id"] == campaign_id
        assert set(hooks.refused) <= {hooks.received[0]["id"]}

        sandbox.clear_faults()
        code, output = _cli("campaign", "redo-failed", campaign_id)
        assert code == 0 and "2 dead job(s)" in output
        wait_until(lambda: len(hooks.received) == 2, what="the second round's webhook", timeout_s=30)
    campaign = client.campaign(campaign_id)
    assert campaign.finished and campaign.round == 2
    assert (campaign.counts["succeeded"], campaign.counts["dead"]) == (6, 1)
    redone = {r.order_id: r.outcome for r in client.campaign_report(campaign_id)}
    assert redone["Z-1"] == "succeeded" and redone["L-1"] == "dead"
    second = hooks.received[1]["body"]["data"]
    assert second["round"] == 2 and second["succeeded"] == 6
    assert sandbox.order("shoplazza", "Z-1")["cancels_applied"] == 1
    assert sandbox.stats()["cancelled_twice"] == []
    code, status = _cli("campaign", "status", campaign_id)
    assert code == 0 and "finished" in status and "8/8" in status


def test_abort_lets_a_write_in_flight_finish_and_sends_no_other(client: CancelQ, shops: dict[str, str],
                                                                sandbox: SandboxClient, tmp_path: Path,
                                                                redis_url: str) -> None:
    seed(sandbox, [("shoplazza", "Z-0", "cancellable"), ("lazada", "L-0", "cancellable")]
         + [("shopline", f"P-{i}", "cancellable") for i in range(6)])
    sandbox.fault("shoplazza", "latency", endpoint="cancel_order", order_id="Z-0", latency_ms=1500)
    sandbox.fault("lazada", "latency", endpoint="OrderCancelValidate", order_id="L-0", latency_ms=1500)
    path = write_csv(tmp_path / "abort.csv", [row("shoplazza", shops, "Z-0"), row("lazada", shops, "L-0")]
                     + [row("shopline", shops, f"P-{i}") for i in range(6)])
    with WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=2, env=SLOW_CALLS):
        campaign_id = client.run_campaign(path).campaign_id
        wait_until(lambda: sandbox.order("shoplazza", "Z-0")["calls"].get("cancel_order")
                   and sandbox.order("lazada", "L-0")["calls"].get("OrderCancelValidate"),
                   what="Z-0's write and L-0's validate to be in flight")
        code, output = _cli("campaign", "abort", campaign_id, "--yes")
        assert code == 0 and "aborted" in output
        wait_until(lambda: client.campaign(campaign_id).finished, what="the aborted campaign to finish")
    report = {r.order_id: r for r in client.campaign_report(campaign_id)}
    assert report["Z-0"].outcome == "succeeded", "the write in flight finished"
    assert {r.outcome for k, r in report.items() if k != "Z-0"} == {"aborted"}
    assert all(r.message.startswith("not sent") for k, r in report.items() if k != "Z-0")
    assert sandbox.order("shoplazza", "Z-0")["cancels_applied"] == 1
    assert "InitReverseOrderCancel" not in sandbox.order("lazada", "L-0")["calls"]
    assert "cancel_order" not in sandbox.stats()["calls"].get("shopline", {})
    campaign = client.campaign(campaign_id)
    assert (campaign.status, campaign.counts["aborted"], campaign.counts["succeeded"]) == ("aborted", 7, 1)
