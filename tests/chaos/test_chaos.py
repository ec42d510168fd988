"""The chaos suite (issue 7): every promise holds under faults, trickled answers, SIGKILLed workers, workers
paused past their lease, a Redis restart, and platform pushes duplicated, reordered, lost or lying (issue 17).

The short form runs in CI; the full one (2,400 orders, 11 kills, a 30 s outage) with ``pytest -m chaos``.
Each run has its own Valkey (AOF on), sandbox and workers; its logs stay in the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cancelq.sandbox.control import SandboxClient, SandboxError
from tests.chaos.config import FULL, SHORT, ChaosConfig
from tests.chaos.driver import run_chaos
from tests.chaos.report import Report


def _assert_sound(report: Report) -> None:
    assert report.final == report.submitted, f"not final: {report.unfinished[:10]}"
    assert report.cancelled_twice == []
    assert report.ledger_only == [] and report.platform_only == []
    assert report.dead_not_permanent == [], "a dead letter without a permanent cause"
    assert report.dead_unexplained == [] and report.dead_letters_unmatched == []
    assert report.rejected == report.log.invalid_submitted and report.rejected_valid == []
    assert report.log.campaign_invalid_seen == report.log.campaign_invalid_expected
    assert report.log.duplicates_created == 0
    assert report.campaigns_off == []
    assert report.decoys_touched == []
    assert report.finality_changed == [], f"final outcomes changed afterwards: {report.finality_changed[:8]}"
    assert report.finals_watched == report.submitted and report.watch_polls[0] > 0
    assert report.needs_reauth == [] and all(n >= 1 for n in report.refreshes.values())
    assert report.attribution_wrong == [], f"cancelled outcomes credited to the wrong party: " \
                                           f"{'; '.join(report.attribution_wrong[:8])}"
    assert report.failures() == []


def _assert_chaos_happened(report: Report, config: ChaosConfig) -> None:
    log = report.log
    assert log.kills == config.kills and log.redis_restarts == config.redis_restarts
    assert log.outage_s >= config.outage_s and log.outage_hits > 0
    assert len(log.expired) == 4 and log.ships > 0 and log.bursts == config.bursts
    assert sum(report.faults_hit.values()) > 0 and report.retried > 0
    assert len(log.pauses) == config.pauses and all(p.length_s > log.lease_s for p in log.pauses)
    assert sum(n for name, n in report.faults_hit.items() if " trickle " in name) > 0
    assert report.pause_caught, "no pause caught a write in flight that its worker then found fenced"


@pytest.mark.timeout(240)
def test_chaos_short(tmp_path: Path) -> None:
    report = run_chaos(SHORT, tmp_path)
    print(report.table())
    _assert_chaos_happened(report, SHORT)
    _assert_sound(report)


@pytest.mark.chaos
@pytest.mark.timeout(900)
def test_chaos_full(tmp_path: Path) -> None:
    report = run_chaos(FULL, tmp_path, verbose=True)
    print(report.table())
    assert report.submitted >= 2000
    assert report.log.pushes.seller_cancels and report.log.pushes.lying, report.log.pushes.summary()
    _assert_chaos_happened(report, FULL)
    _assert_sound(report)


def test_a_fault_removed_by_id_stops_and_the_others_keep_their_counters(sandbox: SandboxClient) -> None:
    outage = sandbox.fault("shopline", "error", http_status=503, times=None)
    standing = sandbox.fault("shopee", "error", code="error_server", probability=0.5, times=None)
    removed = sandbox.remove_fault(outage["id"])
    assert removed["id"] == outage["id"] and removed["hits"] == 0
    assert [f["id"] for f in sandbox.stats()["faults_pending"]] == [standing["id"]]
    with pytest.raises(SandboxError, match="404"):
        sandbox.remove_fault(outage["id"])
