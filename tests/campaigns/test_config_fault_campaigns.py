"""For each configuration-fault code, a 500-job campaign through a real worker ends with no dead letter, its
scope parked with one alert, and after the fix and ``cancelq resume`` all 500 succeed, each cancelled once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import KITS, add_shops, row, seed, write_csv, writes_seen
from tests.helpers import WorkerProcess, wait_until

ORDERS = 500
CONCURRENCY = 16
WORKER_ENV = {"CANCELQ_CONFIG_RECHECK_S": "2"}
"""Parked jobs look again every 2 s (60 s by default): a lifted park is seen that soon."""

CODES: list[tuple[str, dict[str, Any], str]] = [
    ("shopee", {"code": "error_sign", "message": "Wrong sign.", "http_status": 403}, "app"),
    ("shopline", {"http_status": 402, "message": "Payment Required"}, "shop"),
    ("shopee", {"code": "error_partner_key_expired", "message": "partner key expired", "http_status": 403}, "app"),
    ("shopee", {"code": "invalid_partner_id", "message": "Invalid partner_id.", "http_status": 403}, "app"),
    ("shopee", {"code": "source_ip_undeclared", "message": "source ip undeclared", "http_status": 403}, "app"),
    ("shopee", {"code": "shop_banned", "message": "The shop account has been banned.", "http_status": 403}, "shop"),
    ("lazada", {"code": "IncompleteSignature"}, "app"),
    ("lazada", {"code": "InvalidAppKey"}, "app"),
    ("shoplazza", {"http_status": 403, "code": "error", "message": "store is not active"}, "shop"),
]
"""The first two (an app's fault and a shop's) run in the default suite; each takes about 15 s, so the others
run with ``-m slow`` (all nine: about three minutes here)."""
CASES = [pytest.param(p, f, s, id=f"{p}-{f.get('code') or f['http_status']}", marks=[pytest.mark.slow] if i > 1 else [])
         for i, (p, f, s) in enumerate(CODES)]


def _alerts(rt: Runtime) -> list[dict[str, Any]]:
    return [e.data for e in rt.events.recent(count=10 * ORDERS, types=["scope.parked"])]


@pytest.mark.parametrize(("platform", "fault", "scope"), CASES)
def test_a_config_fault_parks_a_500_job_campaign_with_one_alert_and_resume_finishes_it(
        platform: str, fault: dict[str, Any], scope: str, client: CancelQ, sandbox: SandboxClient,
        sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    shops = add_shops(client.rt, sandbox, sandbox_url)
    orders = [f"CF-{i:04d}" for i in range(ORDERS)]
    seed(sandbox, [(platform, o, "cancellable") for o in orders])
    placed = sandbox.fault(platform, "error", endpoint=KITS[platform].write_endpoint, times=None, **fault)
    path = write_csv(tmp_path / "orders.csv", [row(platform, shops, o) for o in orders])
    with WorkerProcess(tmp_path / "worker.log", redis_url, concurrency=CONCURRENCY, env=WORKER_ENV) as worker:
        campaign_id = client.run_campaign(path).campaign_id
        wait_until(lambda: client.campaign(campaign_id).counts["waiting"] == ORDERS, timeout_s=60,
                   what="every job of the campaign to wait on the park")
        hits = sandbox.remove_fault(placed["id"])["hits"]
        assert 1 <= hits <= CONCURRENCY, "after the first answer, only calls already in flight were sent"
        assert client.rt.dead_letters.size() == 0
        alerts = _alerts(client.rt)
        assert len(alerts) == 1 and alerts[0]["scope"] == scope and shops[platform] in alerts[0]["shops"]
        assert f"{platform}/{shops[platform]}" in client.rt.parking.parked()
        assert sum(1 for line in worker.log_path.read_text().splitlines() if '"scope_parked"' in line) == 1
        result = CliRunner().invoke(app, ["resume", "--shop", f"{platform}/{shops[platform]}"])
        assert result.exit_code == 0 and "lifted the park" in result.output
        wait_until(lambda: client.campaign(campaign_id).finished, timeout_s=90, what="the campaign to finish")
    counts = client.campaign(campaign_id).counts
    assert (counts["succeeded"], counts["dead"]) == (ORDERS, 0)
    assert writes_seen(sandbox) == ORDERS + hits
    stats = sandbox.stats()
    assert stats["cancelled_twice"] == []
    assert len(_alerts(client.rt)) == 1
