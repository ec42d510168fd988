"""At 80 columns: the list commands, the campaign progress and the demo's progress and summary keep every number
and id whole (tables wrap text at words, never a number; long values come whole in ``--json``)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rich.console import Console
from typer.testing import CliRunner

from cancelq.cli.demo import dead_letters_table, outcomes_table
from cancelq.cli.main import app
from cancelq.cli.progress import demo_view
from cancelq.client import CancelQ
from cancelq.jobs.ledger import JobRecord
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.campaign_helpers import write_csv
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()
SHOP = "shopee-singapore-flagship-store"
CUT_NUMBER = re.compile(r"\d…|…\d")


@pytest.fixture()
def cq(redis_client: redis.Redis, sandbox: SandboxClient, sandbox_url: str,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[CancelQ]:
    monkeypatch.setenv("COLUMNS", "80")
    reset_runtime()
    rt = Runtime()
    add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, name=SHOP)
    yield CancelQ(rt)
    rt.session.close()


def _lines(*args: str) -> list[str]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _fits(lines: list[str]) -> str:
    assert all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    text = "\n".join(lines)
    assert not CUT_NUMBER.search(text), text
    return text


def _dead(cq: CancelQ, sandbox: SandboxClient, count: int) -> list[str]:
    ids = []
    for n in range(count):
        order = f"SG-2026120100{n:04d}"
        sandbox.add_order("shopee", SHOPEE.shop_ref, order, state="shipped")
        handle = cq.submit({"platform": "shopee", "shop": SHOP, "order_id": order, "reason": "OUT_OF_STOCK"})
        JobRun(cq.rt, handle.job_id).run()
        ids.append(handle.job_id)
    return ids


def test_dlq_list_and_job_rejected_fit_80_columns_with_ids_orders_and_counts_whole(cq: CancelQ,
                                                                                   sandbox: SandboxClient) -> None:
    ids = _dead(cq, sandbox, 3)
    text = _fits(_lines("dlq", "list"))
    for job_id in ids:
        assert job_id[:8] in text
        entry = cq.dead_letter(job_id)
        assert entry is not None and str(entry["job"]["order_id"]) in text, text
    assert "3 shown" in text and "attempts" in text and "tries" not in text
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    short = text.split()[text.split().index(ids[0][:8])]
    assert _lines("dlq", "show", short) and json.loads("\n".join(_lines("dlq", "show", short)))["job_id"] == ids[0]

    shown = _fits(_lines("job", "show", ids[0][:8]))
    assert ids[0] in shown and "SG-20261201000000" in shown, shown
    data = json.dumps([step.get("data") for step in cq.job(ids[0]).steps.values()])
    numbers = re.findall(r"(?<!\w)\d{4,}(?!\w)", data)
    assert numbers and all(re.search(rf"\b{n}\b", shown) for n in numbers), shown
    exported = "\n".join(_lines("dlq", "export", "--format", "csv"))
    assert re.search(r",\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", exported) and not re.search(r",\d{13}\b", exported)
    whole = json.loads("\n".join(_lines("dlq", "list", "--json")))
    assert {e["job_id"] for e in whole} == set(ids)
    assert all(e["last_failure_at"].endswith("Z") and "T" in e["last_failure_at"] for e in whole)

    cq.submit({"platform": "shopee", "shop": "no-such-shop-with-a-very-long-name", "order_id": "R-123456789",
               "reason": "OTHER", "note": "a note long enough to need cutting in a table " * 3})
    rejected = _fits(_lines("job", "rejected"))
    assert "1 shown" in rejected


def test_campaign_list_and_status_fit_80_columns_with_every_count_whole(cq: CancelQ, tmp_path: Path) -> None:
    rows = [{"platform": "shopee", "shop": SHOP, "order_id": f"C-{n}", "reason": "OUT_OF_STOCK"}
            for n in range(1234)]
    run = cq.run_campaign(write_csv(tmp_path / "big-campaign-file-name.csv", rows), campaign_id="narrow-1")
    dry = cq.run_campaign(write_csv(tmp_path / "dry.csv", rows[:12]), campaign_id="narrow-dry", dry_run=True)
    listing = _fits(_lines("campaign", "list"))
    for campaign_id in (run.campaign_id, dry.campaign_id):
        assert campaign_id in listing
    assert "0/1,234" in listing and "0/12" in listing and "dry run" in listing and "2 shown" in listing
    status = _fits(_lines("campaign", "status", "narrow-1"))
    assert "0/1,234 done" in status and "queued=1,234" in status
    summary = json.loads("\n".join(_lines("campaign", "list", "--json")))
    assert {c["campaign_id"]: c["total"] for c in summary} == {"narrow-1": 1234, "narrow-dry": 12}
    assert all(c["created_at"].endswith("Z") for c in summary)


def _rendered(renderable: object) -> list[str]:
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_the_demo_progress_and_summary_keep_their_numbers_at_80_columns() -> None:
    counts = {"succeeded": 1_180, "already_cancelled": 61, "dead": 34, "queued": 35, "rejected": 2}
    text = _fits(_rendered(demo_view(1_277, 1_312, 75.4, counts)))
    assert "1,277/1,312" in text and "97%" in text and "1m15s" in text
    for name, value in counts.items():
        assert f"{name}={value:,}" in text

    records = [JobRecord(job_id=f"{n:020d}", state=state, job={"platform": platform})
               for n, (platform, state) in enumerate([("shopee", "succeeded")] * 1234 + [("lazada", "dead")] * 56
                                                     + [("shoplazza", "queued")] * 7)]
    table = _fits(_rendered(outcomes_table(records, 61.25)))
    assert "1,297 jobs in 61.2s" in table and "1,234" in table and "56" in table
    dead = [{"job_id": f"ab{n:018d}", "kind": "exhausted", "job": {"platform": "shopline", "order_id": f"SLN-{n:05d}"},
             "error": {"code": "error_server", "message": "System error. Please try again later, or ask the "
                                                          "platform's support to look at request 1234567890"}}
            for n in range(3)]
    shown = _fits(_rendered(dead_letters_table(dead)))
    assert all(f"SLN-{n:05d}" in shown for n in range(3)) and "…" in shown
