"""Campaign intake against a real Valkey: batches, counters, idempotency on re-runs, resuming a crashed run."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.campaigns.files import RowChecker, read_rows
from cancelq.campaigns.intake import RunOptions, run_campaign
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import add_shops, drain, job_ids, ledger_states, row, seed, write_csv, writes_seen


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime()
    yield CancelQ(runtime)
    runtime.session.close()


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    return add_shops(client.rt, sandbox, sandbox_url)


def _sent(client: CancelQ) -> list[str]:
    """The job ids of the messages waiting in the broker queue, oldest first."""
    messages = client.rt.redis.lrange("cancelq", 0, -1)
    bodies = [json.loads(base64.b64decode(json.loads(m)["body"])) for m in reversed(messages)]
    assert all(json.loads(m)["headers"]["task"] == "cancelq.cancel" for m in messages)
    return [body[0][0]["job_id"] for body in bodies]


def _mixed_file(tmp_path: Path, shops: dict[str, str], sandbox: SandboxClient) -> Path:
    seed(sandbox, [("shopee", "S-1", "cancellable"), ("shopee", "S-2", "cancelled"), ("lazada", "L-1", "cancellable"),
                   ("lazada", "L-2", "shipped"), ("shopline", "P-1", "cancellable"),
                   ("shoplazza", "Z-1", "cancellable"), ("shoplazza", "Z-2", "cancellable")])
    return write_csv(tmp_path / "mixed.csv", [
        row("shopee", shops, "S-1"), row("shopee", shops, "S-2"), row("lazada", shops, "L-1", "OUT_OF_STOCK"),
        row("shopee", shops, "S-3", "PRICING_ERROR"),                       # line 5: invalid
        row("lazada", shops, "L-2", "OUT_OF_STOCK"), row("shopline", shops, "P-1", options={"restock": True}),
        {**row("shoplazza", shops, "Z-1"), "shop": "nope"},                  # line 8: invalid
        row("shoplazza", shops, "Z-1"), row("shoplazza", shops, "Z-2"),
    ])


def test_intake_counts_rows_sends_in_batches_and_reports_every_row(client: CancelQ, shops: dict[str, str],
                                                                   sandbox: SandboxClient, tmp_path: Path) -> None:
    path = _mixed_file(tmp_path, shops, sandbox)
    result = client.run_campaign(path, batch_size=3)
    assert (result.read, result.valid, result.sent, result.invalid_count) == (9, 7, 7, 2)
    assert [line for line, _ in result.invalid] == [5, 8]
    campaign = client.campaign(result.campaign_id)
    assert (campaign.total, campaign.counts["queued"], campaign.counts["invalid"]) == (7, 7, 2)
    assert campaign.status == "running" and campaign.lines_done == 10
    ids = job_ids(client.rt, campaign.id)
    assert sorted(_sent(client)) == ids

    drain(client.rt, ids)
    campaign = client.campaign(campaign.id)
    ledger = ledger_states(client.rt, ids)
    assert ledger == Counter({"succeeded": 5, "already_cancelled": 1, "dead": 1})
    assert {k: campaign.counts[k] for k in ledger} == dict(ledger)
    assert campaign.done == 7 and campaign.counts["queued"] == campaign.counts["running"] == 0
    assert campaign.finished and campaign.status == "finished"
    assert client.rt.redis.exists(keys.campaign_announced(campaign.id, 1))

    report = list(client.campaign_report(campaign.id))
    assert [r.line for r in report] == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    by_line = {r.line: r for r in report}
    assert by_line[5].outcome == "invalid" and "PRICING_ERROR" in by_line[5].message
    assert by_line[8].outcome == "invalid" and by_line[8].shop == "nope" and by_line[8].order_id == "Z-1"
    assert (by_line[3].outcome, by_line[6].outcome, by_line[6].code) == ("already_cancelled", "dead", "not_cancellable")
    assert by_line[2].outcome == "succeeded" and by_line[2].request_id and by_line[2].finished_at
    assert Counter(r.outcome for r in report if r.counted) == ledger


def test_running_the_same_file_again_sends_nothing_new(client: CancelQ, shops: dict[str, str],
                                                       sandbox: SandboxClient, tmp_path: Path) -> None:
    path = _mixed_file(tmp_path, shops, sandbox)
    first = client.run_campaign(path)
    drain(client.rt, job_ids(client.rt, first.campaign_id))
    writes = writes_seen(sandbox)
    client.rt.redis.delete("cancelq")

    again = client.run_campaign(path)
    assert again.sent == 0 and _sent(client) == []
    second = client.campaign(again.campaign_id)
    assert (second.total, second.counts["duplicates"], second.counts["invalid"]) == (0, 7, 2)
    assert second.finished and again.finished
    assert {r.note for r in client.campaign_report(second.id) if r.outcome != "invalid"} == {
        "already submitted before this campaign (nothing sent again)"}

    same = client.run_campaign(path, campaign_id=first.campaign_id)
    assert (same.resumed, same.skipped, same.read, same.sent) == (True, 9, 0, 0)
    assert writes_seen(sandbox) == writes
    assert sandbox.stats()["cancelled_twice"] == []


def test_a_crashed_run_resumed_with_its_campaign_id_continues(client: CancelQ, shops: dict[str, str],
                                                              tmp_path: Path) -> None:
    rows = [row("shoplazza", shops, f"Z-{i}") for i in range(10)]
    path = write_csv(tmp_path / "big.csv", rows)

    class Crash(Exception):
        pass

    def crash_after_two_batches(result: object) -> None:
        if getattr(result, "read", 0) >= 6:
            raise Crash()

    with pytest.raises(Crash):
        run_campaign(client.rt, RunOptions(path, campaign_id="resume-me", batch_size=3), crash_after_two_batches)
    assert client.campaign("resume-me").lines_done == 7 and len(_sent(client)) == 6
    # The crash hit the third batch after the ledger recorded its jobs, before the campaign counted them.
    checker = RowChecker(client.rt, "resume-me")
    third = [checker.check(r) for r in read_rows(path) if 8 <= r.line <= 10]
    assert all(i.created for i in client.rt.ledger.intake_many(third))

    resumed = run_campaign(client.rt, RunOptions(path, campaign_id="resume-me", batch_size=3))
    assert (resumed.resumed, resumed.skipped, resumed.read, resumed.sent) == (True, 6, 4, 4)
    campaign = client.campaign("resume-me")
    assert (campaign.total, campaign.counts["queued"], campaign.counts["duplicates"]) == (10, 10, 0)
    sent = _sent(client)
    assert len(sent) == 10 and sorted(sent) == job_ids(client.rt, "resume-me")


def test_strict_refuses_a_file_with_any_invalid_row(client: CancelQ, shops: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "strict.csv", [row("shopline", shops, "P-1"), row("shopline", shops, "")])
    result = client.run_campaign(path, strict=True)
    assert result.refused and result.invalid_count == 1 and result.invalid[0][0] == 3
    assert client.campaigns() == [] and _sent(client) == []
    assert list(client.rt.redis.scan_iter(match=keys.job("*"))) == []


def test_a_repeated_order_in_one_file_is_one_job(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                                 tmp_path: Path) -> None:
    seed(sandbox, [("shopline", "P-1", "cancellable")])
    path = write_csv(tmp_path / "dup.csv", [row("shopline", shops, "P-1"), row("shopline", shops, "P-1")])
    result = client.run_campaign(path)
    campaign = client.campaign(result.campaign_id)
    assert (result.sent, campaign.total, campaign.counts["duplicates"]) == (1, 1, 1)
    drain(client.rt, job_ids(client.rt, campaign.id))
    report = list(client.campaign_report(campaign.id))
    assert [(r.outcome, bool(r.note)) for r in report] == [("succeeded", False), ("succeeded", True)]
    assert report[0].job_id == report[1].job_id
    assert sandbox.order("shopline", "P-1")["cancels_applied"] == 1


def test_messages_go_through_celery_when_the_broker_is_not_redis(client: CancelQ) -> None:
    from cancelq.campaigns.intake import Publisher

    raw = Publisher(client.rt)
    assert raw.raw and raw.client is not None
    amqp = Runtime(settings=client.rt.settings.model_copy(update={"broker_url": "amqp://guest@127.0.0.1:1//"}))
    fallback = Publisher(amqp)
    assert not fallback.raw and fallback.client is None
    fallback.sender = client.rt.sender  # Celery's own messages, sent where this test can read them
    fallback.send(["job-a", "job-b"], {"job-a": "shopee/s order=1 reason=OTHER"})  # app.send_task, one by one
    raw.send(["job-c"])
    assert _sent(client) == ["job-a", "job-b", "job-c"]
    ours, celerys = (json.loads(m) for m in client.rt.redis.lrange("cancelq", 0, 1))
    assert ours["headers"]["argsrepr"] == "job=job-c" and celerys["headers"]["argsrepr"] == "job=job-b"
    assert json.loads(client.rt.redis.lindex("cancelq", -1))["headers"]["argsrepr"] == (
        "job=job-a shopee/s order=1 reason=OTHER")
    assert json.loads(raw.message("job-d", "shopee/s order=1 reason=OTHER"))["headers"]["argsrepr"] == (
        "job=job-d shopee/s order=1 reason=OTHER")
    assert set(ours["headers"]) == set(celerys["headers"]) and set(ours["properties"]) <= set(celerys["properties"])
