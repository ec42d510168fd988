"""``cancelq shops set-policy``: a shop's answer to buyers' cancel requests, checked (one error line, nothing
written) and shown by ``shops show`` and ``shops list``."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.runtime import reset_runtime
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shopline import KIT as SHOPLINE

runner = CliRunner()


@pytest.fixture()
def cq(redis_client: redis.Redis) -> CancelQ:
    reset_runtime()
    cq = CancelQ()
    cq.add_shop("shopee", "sg-main", dict(SHOPEE.credentials))
    cq.add_shop("lazada", "sg-store", dict(LAZADA.credentials))
    cq.add_shop("shopline", "store", dict(SHOPLINE.credentials))
    return cq


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    return result.exit_code, " ".join(result.output.split())


def _dump(redis_url: str) -> dict[str, object]:
    with redis.Redis.from_url(redis_url) as raw:
        return {str(k): raw.dump(k) for k in sorted(raw.keys("*"))}


def test_set_policy_is_stored_and_shown(cq: CancelQ) -> None:
    code, output = _cli("shops", "set-policy", "lazada/sg-store", "--buyer-requests", "accept", "--unless", "shipped")
    assert code == 0 and output == "shop lazada/sg-store: buyer cancel requests -> accept unless shipped"
    shown = json.loads(runner.invoke(app, ["shops", "show", "lazada", "sg-store"]).output)
    assert shown["buyer_requests"] == {"policy": "accept", "unless": ["shipped"]}
    assert json.loads(runner.invoke(app, ["shops", "show", "shopee", "sg-main"]).output)["buyer_requests"] == {
        "policy": "notify", "unless": []}
    code, listed = _cli("shops", "list")
    assert code == 0 and "accept unless shipped" in listed and "notify" in listed
    cq.add_shop("lazada", "sg-store", dict(LAZADA.credentials))  # new credentials keep the policy
    assert cq.rt.shops.get("lazada", "sg-store", fresh=True).buyer_policy.policy == "accept"  # type: ignore[union-attr]


@pytest.mark.parametrize(("argv", "message"), [
    (["shopee/sg-mian", "--buyer-requests", "accept"], "did you mean shopee/sg-main"),
    (["shopee/sg-main", "--buyer-requests", "accept-all"], "--buyer-requests 'accept-all': use one of accept, "
                                                           "notify, ignore"),
    (["shopee/sg-main", "--buyer-requests", "accept", "--unless", "paid"], "--unless paid: the conditions are "
                                                                           "shipped"),
    (["shopee/sg-main", "--buyer-requests", "notify", "--unless", "shipped"], "--unless qualifies only"),
    (["shopline/store", "--buyer-requests", "accept"], "shopline has no buyer cancel requests"),
], ids=["unknown shop", "unknown policy", "unknown condition", "condition without accept", "no buyer requests"])
def test_a_wrong_policy_is_one_error_line_and_writes_nothing(cq: CancelQ, redis_url: str, argv: list[str],
                                                             message: str) -> None:
    before = _dump(redis_url)
    result = runner.invoke(app, ["shops", "set-policy", *argv], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert _dump(redis_url) == before
