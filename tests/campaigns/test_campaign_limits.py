"""Campaign files with rows that used to escape the checks (issue 12, item 4): each such row is one invalid
row with its reason, the rest of the file is taken, and the report can be written as UTF-8."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.campaigns.files import read_rows
from cancelq.campaigns.report import write_csv
from cancelq.client import CancelQ
from cancelq.jobs.contract import MAX_JOB_BYTES
from cancelq.runtime import Runtime
from tests.kits.shoplazza import KIT as SHOPLAZZA

SHOP = "shoplazza-shop"
LONE = "\\ud800"
"""A lone surrogate as JSON text spells it (json.loads turns it into one)."""


@pytest.fixture()
def client(redis_client: redis.Redis) -> Iterator[CancelQ]:
    runtime = Runtime()
    runtime.shops.add("shoplazza", SHOP, dict(SHOPLAZZA.credentials), base_url="http://127.0.0.1:9")
    yield CancelQ(runtime)
    runtime.session.close()


def _row(order_id: str, **extra: object) -> str:
    return json.dumps({"platform": "shoplazza", "shop": SHOP, "order_id": order_id, "reason": "OTHER", **extra})


BAD_LINES = {
    2: ('{"platform": "shoplazza", "shop": "s", "order_id": "2", "reason": "OTHER", "items": ' + "[" * 3000
        + "]" * 3000 + "}", "nested deeper than 32 levels"),
    3: (_row("3", shop="a@").replace("@", LONE), "shop: not valid Unicode text"),
    4: ('{"platform": "shoplazza", "shop": "s", "order_id": ' + "9" * 5000 + ', "reason": "OTHER"}',
        "an integer of more than 64 bits"),
    5: (_row("5").replace('"shoplazza"', "[" * 900 + "]" * 900, 1), "platform.0.0.0.0.0.<...>: nested deeper"),
    6: (_row("6", options={"currency": "c" * MAX_JOB_BYTES}), f"job: larger than {MAX_JOB_BYTES} bytes"),
    7: (_row("7")[:-1] + ', "x\\udc00": 1}', "unknown field(s) x\ufffd"),
    8: (_row("8", note="sorry @").replace("@", LONE), "note: not valid Unicode text"),
}


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.jsonl"
    lines = [_row("1")] + [BAD_LINES[n][0] for n in sorted(BAD_LINES)] + [_row("9")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hostile_rows_are_invalid_with_their_reason_and_the_rest_is_taken(client: CancelQ, tmp_path: Path) -> None:
    result = client.run_campaign(_file(tmp_path))
    assert (result.read, result.valid, result.invalid_count) == (9, 2, len(BAD_LINES))
    reasons = dict(result.invalid)
    for line, (_, fragment) in BAD_LINES.items():
        assert fragment in reasons[line], (line, reasons[line])
    report = list(client.campaign_report(result.campaign_id))
    assert [r.outcome for r in report] == ["queued", *["invalid"] * len(BAD_LINES), "queued"]
    assert report[2].shop == "a\ufffd"
    written = io.StringIO()
    assert write_csv(report, written) == 9
    written.getvalue().encode("utf-8")


def test_strict_refuses_such_a_file_without_raising(client: CancelQ, tmp_path: Path) -> None:
    result = client.run_campaign(_file(tmp_path), strict=True)
    assert result.refused and result.invalid_count == len(BAD_LINES) and result.sent == 0


def test_a_csv_cell_of_deep_json_is_an_invalid_row(tmp_path: Path) -> None:
    path = tmp_path / "deep.csv"
    path.write_text('platform,shop,order_id,reason,items\nlazada,s,1,OTHER,"' + "[" * 3000 + "]" * 3000 + '"\n',
                    encoding="utf-8")
    (found,) = read_rows(path)
    assert found.line == 2 and found.error.startswith("items: nested deeper than 32 levels")
