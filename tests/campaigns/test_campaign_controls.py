"""Dry runs, pause/resume, abort, --max-rate and the completion announcement, run in this process."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import structlog

from cancelq.campaigns.record import new_campaign_id
from cancelq.campaigns.store import CampaignError, store
from cancelq.campaigns.tracking import announce
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.delivery import service as delivery
from cancelq.delivery.endpoints import Endpoints
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.shops.registry import Sealer
from cancelq.tasks.run import JobRun
from tests.campaign_helpers import (
    add_shops,
    deliver_queued,
    drain,
    job_ids,
    ledger_states,
    row,
    seed,
    write_csv,
    writes_seen,
)
from tests.delivery.receiver import Receiver, settled
from tests.helpers import wait_until


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    settings = Runtime().settings.model_copy(update={"pause_recheck_s": 0.1})
    runtime = Runtime(settings=settings)
    yield CancelQ(runtime)
    runtime.session.close()


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    return add_shops(client.rt, sandbox, sandbox_url)


Hooks = Receiver
HOOK_PATH = "/hooks/campaigns?token=s3cr3t-hook-token"


@pytest.fixture()
def hooks() -> Iterator[Hooks]:
    receiver = Hooks(path=HOOK_PATH)
    yield receiver
    receiver.close()


def test_dry_run_reads_every_order_and_changes_none(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                                    tmp_path: Path) -> None:
    seed(sandbox, [("shopee", "S-1", "cancellable"), ("shopee", "S-2", "in_cancel"), ("shopee", "S-3", "cancelled"),
                   ("lazada", "L-1", "cancellable"), ("lazada", "L-2", "shipped"), ("shopline", "P-1", "cancellable"),
                   ("shoplazza", "Z-1", "cancellable")])
    path = write_csv(tmp_path / "dry.csv", [
        row("shopee", shops, "S-1"), row("shopee", shops, "S-2"), row("shopee", shops, "S-3"),
        row("lazada", shops, "L-1", "OUT_OF_STOCK"), row("lazada", shops, "L-2", "OUT_OF_STOCK"),
        row("shopline", shops, "P-1", options={"restock": True}), row("shoplazza", shops, "Z-1"),
        row("shoplazza", shops, "Z-404")])
    before = {(o["platform"], o["order_id"]): o["status"] for o in sandbox.orders()}

    result = client.run_campaign(path, dry_run=True)
    drain(client.rt, job_ids(client.rt, result.campaign_id))
    assert writes_seen(sandbox) == 0
    assert sandbox.stats()["calls"]["lazada"].get("OrderCancelValidate") == 1, "Lazada's validate is a read"
    after = sandbox.orders()
    assert {(o["platform"], o["order_id"]): o["status"] for o in after} == before
    assert all(o["cancels_applied"] == 0 for o in after)

    campaign = client.campaign(result.campaign_id)
    assert campaign.dry_run and campaign.finished and campaign.counts["previewed"] == campaign.total == 8
    report = {r.order_id: r for r in client.campaign_report(campaign.id)}
    assert {k: r.preview for k, r in report.items()} == {
        "S-1": "would_cancel", "S-2": "would_accept_buyer_request", "S-3": "already_cancelled",
        "L-1": "would_cancel", "L-2": "cannot_cancel", "P-1": "would_cancel", "Z-1": "would_cancel",
        "Z-404": "cannot_cancel"}
    assert "stock will be set to 0" in report["L-1"].side_effects
    assert report["P-1"].side_effects == "restock" and report["Z-404"].code == "not_found"
    assert all(r.outcome == "previewed" for r in report.values())

    real = client.run_campaign(path)
    assert real.sent == 8, "a dry run's jobs never stand in for the real ones"
    drain(client.rt, job_ids(client.rt, real.campaign_id))
    assert ledger_states(client.rt, job_ids(client.rt, real.campaign_id))["succeeded"] == 5


def test_pause_holds_writes_and_resume_lets_them_go(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                                    tmp_path: Path) -> None:
    seed(sandbox, [("lazada", "L-1", "cancellable"), ("shopline", "P-1", "cancellable")])
    path = write_csv(tmp_path / "p.csv", [row("lazada", shops, "L-1", "OUT_OF_STOCK"), row("shopline", shops, "P-1")])
    campaign_id = client.run_campaign(path).campaign_id
    assert client.pause_campaign(campaign_id, "checking stock").status == "paused"
    ids = job_ids(client.rt, campaign_id)
    for job_id in ids:
        JobRun(client.rt, job_id).run()
    records = [client.job(j) for j in ids]
    assert all(r.state == "waiting" and r.events[-1]["why"] == f"paused:campaign:{campaign_id}" for r in records)
    assert all(r.attempts == 0 for r in records) and writes_seen(sandbox) == 0
    assert client.campaign(campaign_id).counts["waiting"] == 2

    assert client.resume_campaign(campaign_id).status == "running"
    drain(client.rt, ids)
    campaign = client.campaign(campaign_id)
    assert campaign.counts["succeeded"] == 2 and campaign.finished
    assert sandbox.stats()["cancels_applied"] == 2


def test_abort_ends_unsent_jobs_and_is_final(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                             tmp_path: Path) -> None:
    seed(sandbox, [("shoplazza", f"Z-{i}", "cancellable") for i in range(4)])
    sandbox.fault("shoplazza", "error", endpoint="cancel_order", order_id="Z-1", http_status=429, retry_after_s=60)
    path = write_csv(tmp_path / "a.csv", [row("shoplazza", shops, f"Z-{i}") for i in range(4)])
    campaign_id = client.run_campaign(path).campaign_id
    ids = {client.job(j).job["order_id"]: j for j in job_ids(client.rt, campaign_id)}
    drain(client.rt, [ids["Z-0"]])
    JobRun(client.rt, ids["Z-1"]).run()
    assert client.job(ids["Z-1"]).state == "waiting"

    store(client.rt).abort(campaign_id)
    due = client.rt.redis.zscore(keys.DELAYED, ids["Z-1"])
    assert due is not None and due <= client.job(ids["Z-1"]).due_at - 50_000, "the long wait was called forward"
    drain(client.rt, list(ids.values()))
    states = {order: client.job(j).state for order, j in ids.items()}
    assert states == {"Z-0": "succeeded", "Z-1": "aborted", "Z-2": "aborted", "Z-3": "aborted"}
    campaign = client.campaign(campaign_id)
    assert campaign.status == "aborted" and campaign.finished
    assert (campaign.counts["succeeded"], campaign.counts["aborted"]) == (1, 3)
    assert sandbox.stats()["calls"]["shoplazza"]["cancel_order"] == 2, "Z-2 and Z-3 sent nothing"
    report = {r.order_id: r for r in client.campaign_report(campaign_id)}
    assert report["Z-2"].message.startswith("not sent") and report["Z-0"].message == "cancelled"
    with pytest.raises(CampaignError, match="aborted"):
        client.resume_campaign(campaign_id)
    with pytest.raises(CampaignError, match="aborted"):
        client.run_campaign(path, campaign_id=campaign_id)


def test_max_rate_paces_the_campaign_writes(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                            tmp_path: Path) -> None:
    seed(sandbox, [("shopline", f"P-{i}", "cancellable") for i in range(5)])
    path = write_csv(tmp_path / "r.csv", [row("shopline", shops, f"P-{i}") for i in range(5)])
    campaign_id = client.run_campaign(path, max_rate=4.0).campaign_id
    ids = job_ids(client.rt, campaign_id)
    drain(client.rt, ids)
    at = sorted(client.job(j).steps["cancel"]["at"] for j in ids)
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert min(gaps) >= 200, f"writes closer than 1/4 s apart: {gaps}"
    assert client.rt.redis.hexists(keys.GATE, keys.tat_field(f"campaign:{campaign_id}"))
    assert ledger_states(client.rt, ids) == {"succeeded": 5}


def test_completion_is_announced_once_in_the_log_and_signed_to_the_campaigns_endpoint(
        client: CancelQ, shops: dict[str, str], sandbox: SandboxClient, hooks: Hooks, tmp_path: Path) -> None:
    seed(sandbox, [("shopee", "S-1", "cancellable"), ("shopee", "S-2", "shipped")])
    path = write_csv(tmp_path / "w.csv", [row("shopee", shops, "S-1"), row("shopee", shops, "S-2")])
    campaign_id = new_campaign_id()
    endpoint = Endpoints(client.rt.redis, Sealer(None), allow_private=True).add(
        hooks.url, events=["campaign.finished"], campaign_id=campaign_id)
    hooks.secrets = [endpoint.secret]
    delivering = delivery.start(client.rt, "test@here")
    try:
        with structlog.testing.capture_logs() as logs:
            client.run_campaign(path, campaign_id=campaign_id)
            drain(client.rt, job_ids(client.rt, campaign_id))
            wait_until(lambda: hooks.received, what="the signed campaign.finished delivery")
            assert not store(client.rt).intake_done(campaign_id)
            assert not announce(client.rt, campaign_id, background=False)
            client.run_campaign(path, campaign_id=campaign_id)
            wait_until(lambda: settled(client.rt), what="every event dispatched")
    finally:
        delivering.stop()
    finished = [e for e in logs if e["event"] == "campaign_finished"]
    assert len(finished) == 1 and finished[0]["campaign_id"] == campaign_id
    assert len(hooks.received) == 1 and not hooks.refused
    body = hooks.received[0]["body"]
    assert body["type"] == "campaign.finished" and body["data"]["campaign_id"] == campaign_id
    data = body["data"]
    assert (data["total"], data["succeeded"], data["dead"], data["status"]) == (2, 1, 1, "finished")
    assert hooks.received[0]["id"] == f"{body['id']}:{endpoint.id}"
    text = json.dumps(logs)
    assert "s3cr3t-hook-token" not in text and endpoint.secret not in text
    assert "s3cr3t" not in json.dumps(client.campaign(campaign_id).summary())


def test_campaign_commands_pause_resume_status_and_refuse_what_they_cannot_do(
        client: CancelQ, shops: dict[str, str], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cancelq.cli.main import app
    from cancelq.runtime import reset_runtime

    reset_runtime()
    cli = CliRunner()
    path = write_csv(tmp_path / "c.csv", [{"order_id": "P-1"}, {"order_id": "P-2"}], ["order_id"])
    refused = cli.invoke(app, ["campaign", "run", str(path), "--platform", "shopline", "--strict"])
    assert refused.exit_code == 2 and "nothing was sent" in refused.output
    assert "line 2: shop: missing (no value in the row and no --shop); reason: missing" in refused.output
    ran = cli.invoke(app, ["campaign", "run", str(path), "--platform", "shopline", "--shop", shops["shopline"],
                           "--reason", "other", "--campaign-id", "cli-1", "--max-rate", "3"])
    assert ran.exit_code == 0 and "2 jobs sent" in ran.output
    assert cli.invoke(app, ["campaign", "pause", "cli-1"]).exit_code == 0
    status = cli.invoke(app, ["campaign", "status", "cli-1", "--json"])
    assert status.exit_code == 0 and json.loads(status.output)["status"] == "paused"
    assert json.loads(status.output)["max_rate"] == 3.0 and json.loads(status.output)["queued"] == 2
    assert cli.invoke(app, ["campaign", "resume", "cli-1"]).exit_code == 0
    assert client.campaign("cli-1").status == "running"
    missing = cli.invoke(app, ["campaign", "status", "no-such"])
    assert missing.exit_code == 1 and "no campaign no-such" in missing.output
    assert cli.invoke(app, ["campaign", "abort", "cli-1", "--yes"]).exit_code == 0
    again = cli.invoke(app, ["campaign", "pause", "cli-1"])
    assert again.exit_code == 2 and "was aborted" in again.output
    bad = cli.invoke(app, ["campaign", "run", str(path), "--campaign-id", "bad id!"])
    assert bad.exit_code == 2 and "campaign id" in bad.output



def test_a_final_move_is_counted_when_the_server_lost_its_scripts(client: CancelQ, shops: dict[str, str],
                                                                 sandbox: SandboxClient, tmp_path: Path) -> None:
    """The task queues the final count in the ledger's pipeline by script hash; after a SCRIPT FLUSH (a
    restarted Redis) that fails with NOSCRIPT and the move is run on its own, so nothing goes uncounted."""
    seed(sandbox, [("shopee", "S-1", "cancellable")])
    campaign_id = client.run_campaign(write_csv(tmp_path / "f.csv", [row("shopee", shops, "S-1")])).campaign_id
    [job_id] = job_ids(client.rt, campaign_id)
    drain(client.rt, [job_id])
    campaigns = store(client.rt)
    campaigns.move(campaign_id, job_id, "running")  # as if the job were running again (a replay)
    client.rt.redis.script_flush()
    pipe = client.rt.redis.pipeline(transaction=False)
    campaigns.move_in(pipe, campaign_id, job_id, "succeeded")
    [result] = pipe.execute(raise_on_error=False)
    assert isinstance(result, redis.exceptions.NoScriptError)
    assert campaigns.moved_by(result, campaign_id, job_id, "succeeded") is True, "the last job out finishes it"
    campaign = client.campaign(campaign_id)
    assert campaign.finished and campaign.counts["succeeded"] == 1 and campaign.counts.get("running", 0) == 0


def test_campaign_messages_carry_their_jobs_and_the_counters_follow(client: CancelQ, shops: dict[str, str],
                                                                     sandbox: SandboxClient, tmp_path: Path) -> None:
    """A campaign's messages carry each job, so each first call also takes the job's lease; the campaign
    counts the job running then, and its counters end equal to the ledger."""
    seed(sandbox, [("shopee", "C-1", "cancellable"), ("shopline", "C-2", "cancellable"),
                   ("lazada", "C-3", "cancellable"), ("shoplazza", "C-4", "shipped")])
    path = write_csv(tmp_path / "c.csv", [row("shopee", shops, "C-1"), row("shopline", shops, "C-2"),
                                          row("lazada", shops, "C-3"), row("shoplazza", shops, "C-4")])
    campaign_id = client.run_campaign(path).campaign_id
    ids = deliver_queued(client.rt)
    assert sorted(ids) == job_ids(client.rt, campaign_id)
    assert all(client.rt.ledger.get(j).deliveries == 1 for j in ids)  # type: ignore[union-attr]
    assert ledger_states(client.rt, ids) == {"succeeded": 3, "dead": 1}
    campaign = store(client.rt).get(campaign_id)
    assert campaign.status == "finished"
    assert {k: v for k, v in campaign.counts.items() if v} == {"total": 4, "done": 4, "succeeded": 3, "dead": 1}


class _FastWorker(CancelQ):
    """The real client; each replayed job is run to its outcome at once, before ``redo_failed`` goes on (as a
    worker that takes the message first does)."""

    def replay(self, job_id: str):  # type: ignore[no-untyped-def]
        handle = super().replay(job_id)
        deliver_queued(self.rt)
        return handle


def test_redo_failed_announces_its_round_even_when_the_jobs_finish_before_it_returns(
        client: CancelQ, shops: dict[str, str], sandbox: SandboxClient, tmp_path: Path) -> None:
    orders = ["S-1", "S-2", "S-3"]
    seed(sandbox, [("shopee", "S-1", "cancellable"), ("shopee", "S-2", "shipped"), ("shopee", "S-3", "shipped")])
    result = client.run_campaign(write_csv(tmp_path / "c.csv", [row("shopee", shops, o) for o in orders]))
    drain(client.rt, job_ids(client.rt, result.campaign_id))
    assert client.campaign(result.campaign_id).counts["dead"] == 2

    fast = _FastWorker(client.rt)
    assert len(fast.redo_failed(result.campaign_id)) == 2
    finished = [e for e in client.rt.events.recent(count=100, types=["campaign.finished"])
                if e.data["campaign_id"] == result.campaign_id]
    assert [e.data["round"] for e in finished] == [1, 2]  # round 2 once, when its last job ended
    assert finished[1].data["succeeded"] == 1 and finished[1].data["dead"] == 2
    assert client.campaign(result.campaign_id).finished
