"""Reading campaign files: line numbers and reasons for invalid rows, defaults, the schema memo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from jsonschema import Draft202012Validator

from cancelq.campaigns.files import (
    CampaignFileError,
    Defaults,
    RowChecker,
    ShapeMemo,
    length_only_fields,
    read_rows,
)
from cancelq.jobs.contract import InvalidJob, schema
from cancelq.runtime import Runtime
from tests.helpers import add_kit_shop
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()


@pytest.fixture()
def shops(rt: Runtime, sandbox: Any, sandbox_url: str) -> dict[str, str]:
    return {kit.platform: add_kit_shop(kit, sandbox, rt.shops, sandbox_url) for kit in (SHOPEE, LAZADA)}


def _verdicts(rt: Runtime, path: Path, defaults: Defaults | None = None) -> dict[int, str]:
    """line -> "ok" or the reason the row is invalid."""
    checker = RowChecker(rt, "c-test", defaults or Defaults())
    verdicts = {}
    for row in read_rows(path):
        try:
            checker.check(row)
            verdicts[row.line] = "ok"
        except InvalidJob as exc:
            verdicts[row.line] = str(exc)
    return verdicts


def test_invalid_csv_rows_are_reported_with_their_line_and_reason(rt: Runtime, shops: dict[str, str],
                                                                  tmp_path: Path) -> None:
    shopee, lazada = shops["shopee"], shops["lazada"]
    path = tmp_path / "orders.csv"
    path.write_text(
        "Platform,Shop,Order ID,Reason,Note,Items\n"                           # 1
        f"shopee,{shopee},A-1,customer request,,\n"                             # 2 ok (reason normalised)
        f"shopee,{shopee},A-2,PRICING_ERROR,,\n"                                # 3 Shopee cannot say it
        "\n"                                                                    # 4 blank: skipped
        f"ebay,{shopee},A-3,OTHER,,\n"                                          # 5 unknown platform
        f"shopee,no-such-shop,A-4,OTHER,,\n"                                    # 6 unknown shop
        f"lazada,{lazada},,OUT_OF_STOCK,,\n"                                    # 7 no order id
        f'lazada,{lazada},B-1,OUT_OF_STOCK,"two\nlines",\n'                     # 8-9 ok (quoted newline)
        f"lazada,{lazada},B-2,OUT_OF_STOCK,,[{{bad json\n"                      # 10 items not JSON
        f'lazada,{lazada},B-3,OUT_OF_STOCK,,"[{{""order_item_id"": 7}}]"\n'     # 11 ok, partial
        f"lazada,{lazada},B-4,OUT_OF_STOCK,,,extra\n"                           # 12 too many values
        f"shopee,{shopee},A-5,OUT_OF_STOCK,{'x' * 501},\n"                      # 13 note too long
        f'shopee,{shopee},A-6,OUT_OF_STOCK,,"[{{""order_item_id"": 7}}]"\n',    # 14 Shopee item shape
        encoding="utf-8")
    verdicts = _verdicts(rt, path)
    assert verdicts[2] == "ok" and verdicts[8] == "ok" and verdicts[11] == "ok"
    assert "Shopee has no cancel reason for PRICING_ERROR" in verdicts[3]
    assert verdicts[5].startswith("platform:")
    assert "no shopee shop named 'no-such-shop'" in verdicts[6]
    assert "order_id" in verdicts[7]
    assert verdicts[10].startswith("items: not valid JSON")
    assert verdicts[12] == "7 values for 6 columns"
    assert verdicts[13].startswith("note:")
    assert verdicts[14].startswith("items.0:")
    assert set(verdicts) == {2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14}


def test_jsonl_rows_defaults_and_bad_lines(rt: Runtime, shops: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"order_id": "A-1"}\n'                                       # 1 ok from defaults
        '{"order_id": 2411230, "reason": "OUT_OF_STOCK"}\n'           # 2 ok, integer id
        "\n"                                                          # 3 blank
        '["not", "an", "object"]\n'                                   # 4
        '{"order_id": "A-3", "colour": "red"}\n'                      # 5 unknown field
        '{"order_id": "A-4", \n'                                      # 6 broken JSON
        + json.dumps({"order_id": "A-5", "platform": "lazada", "shop": shops["lazada"]}) + "\n",  # 7 ok
        encoding="utf-8")
    verdicts = _verdicts(rt, path, Defaults("shopee", shops["shopee"], "CUSTOMER_REQUEST"))
    assert [line for line, v in verdicts.items() if v == "ok"] == [1, 2, 7]
    assert verdicts[4] == "a row is a JSON object, got list"
    assert verdicts[5].startswith("unknown field(s) colour")
    assert verdicts[6].startswith("not valid JSON")
    assert "reason" in _verdicts(rt, path, Defaults("shopee", shops["shopee"]))[1]


def test_a_file_with_an_unknown_column_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("platform,shop,order_id,resaon\nshopee,s,1,OTHER\n", encoding="utf-8")
    with pytest.raises(CampaignFileError, match=r"unknown column.*'resaon'"):
        list(read_rows(path))
    with pytest.raises(CampaignFileError, match=r"name it \.csv or \.jsonl"):
        list(read_rows(tmp_path / "orders.xlsx"))


def test_dry_run_rows_get_their_own_idempotency_key(rt: Runtime, shops: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(f"platform,shop,order_id,reason\nshopee,{shops['shopee']},A-1,CUSTOMER_REQUEST\n", encoding="utf-8")
    row = next(read_rows(path))
    real = RowChecker(rt, "c-1").check(row)
    dry = RowChecker(rt, "c-1", dry_run=True).check(row)
    assert dry.dry_run and not real.dry_run
    assert real.idempotency_key == f"shopee/{shops['shopee']}/A-1"
    assert dry.idempotency_key == f"dry-run/c-1/{real.idempotency_key}"
    assert dry.to_dict()["dry_run"] is True and "dry_run" not in real.to_dict()


def test_the_schema_memo_only_skips_fields_checked_by_type_and_length() -> None:
    assert length_only_fields(schema()) == {"shop", "order_id", "note", "idempotency_key", "campaign_id", "source",
                                            "client_ref"}
    patterned = {**schema(), "properties": {**schema()["properties"], "shop": {"type": "string", "pattern": "^a"}}}
    assert "shop" not in length_only_fields(patterned)
    assert length_only_fields({**schema(), "dependentSchemas": {}}) == frozenset()


@pytest.mark.parametrize("changes", [
    {}, {"order_id": ""}, {"order_id": "x" * 100}, {"order_id": "x" * 101}, {"order_id": 7}, {"order_id": True},
    {"shop": ""}, {"note": "n" * 500}, {"note": "n" * 501}, {"note": 5}, {"reason": "BECAUSE"},
    {"platform": "shopline", "items": [{"order_item_id": 1}]}, {"platform": "lazada", "items": [{"order_item_id": 1}]},
    {"options": {"restock": "yes"}}, {"dry_run": "true"}, {"dry_run": True}, {"extra": 1},
])
def test_the_schema_memo_agrees_with_the_validator(changes: dict[str, Any]) -> None:
    base = {"platform": "shopee", "shop": "s", "order_id": "1", "reason": "OTHER", "campaign_id": "c"}
    raw = {**base, **changes}
    validator = Draft202012Validator(schema())
    memo = ShapeMemo()
    assert memo.is_valid(raw) == validator.is_valid(raw)
    same_shape = {k: ("y" * len(v) if isinstance(v, str) and k in memo.length_only else v) for k, v in raw.items()}
    assert memo.shape(same_shape) == memo.shape(raw)
    assert memo.is_valid(same_shape) == validator.is_valid(same_shape) == validator.is_valid(raw)
