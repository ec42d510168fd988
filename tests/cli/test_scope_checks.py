"""Every scope command refuses a name that does not exist, names the nearest known ones, and writes nothing;
``status`` says why, who and when of each pause and when each open circuit probes; ``circuits close``."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.gate.circuits import probe_value
from cancelq.runtime import reset_runtime
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()

REFUSED = [
    (["pause", "--shop", "shopee-sg-main"], "did you mean shopee/shopee-sg-main?"),
    (["pause", "--shop", "shopee/shopee-sg-mian"], "did you mean shopee/shopee-sg-main"),
    (["pause", "--shop", "shoplazza/*"], "no shop in the registry matches 'shoplazza/*'"),
    (["pause", "--platform", "lazda"], "unknown platform 'lazda'; did you mean lazada?"),
    (["pause", "--campaign", "20261201-00000000"], "no campaign 20261201-00000000"),
    (["resume", "--shop", "shopee-sg-main"], "did you mean shopee/shopee-sg-main?"),
    (["resume", "--platform", "lazda"], "did you mean lazada?"),
    (["resume", "--campaign", "nope"], "no campaign nope"),
    (["circuits", "close", "lazda"], "did you mean lazada?"),
    (["circuits", "close", "shopee/shopee-sg-mian"], "did you mean shopee/shopee-sg-main"),
    (["shops", "set-limit", "shopee", "shopee-sg-mian", "--rate", "1"], "did you mean shopee/shopee-sg-main"),
    (["shops", "set-token", "lazada", "shopee-sg-main", "--access-token", "t"], "did you mean shopee/shopee-sg-main"),
    (["shops", "show", "shopee", "sg-main"], "no shop 'shopee/sg-main'"),
    (["shops", "remove", "shopee", "shopee-sg-mian"], "did you mean shopee/shopee-sg-main"),
    (["shops", "verify", "shopee", "shopee-sg-mian"], "did you mean shopee/shopee-sg-main"),
    (["campaign", "pause", "20261201-00000000"], "no campaign 20261201-00000000"),
    (["campaign", "resume", "20261201-00000000"], "no campaign 20261201-00000000"),
    (["campaign", "abort", "20261201-00000000", "--yes"], "no campaign 20261201-00000000"),
    (["campaign", "status", "20261201-00000000"], "no campaign 20261201-00000000"),
]


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _everything(redis_url: str) -> dict[str, object]:
    with redis.Redis.from_url(redis_url) as raw:
        return {str(k): raw.dump(k) for k in sorted(raw.keys("*"))}


@pytest.fixture()
def shops(redis_client: redis.Redis) -> CancelQ:
    reset_runtime()
    cq = CancelQ()
    cq.add_shop("shopee", "shopee-sg-main", dict(SHOPEE.credentials))
    cq.add_shop("shopee", "shopee-my-main", dict(SHOPEE.credentials))
    cq.add_shop("lazada", "lazada-vn-store", dict(LAZADA.credentials))
    cq.pause("platform", "shopline", reason="before", by="ops")
    return cq


@pytest.mark.parametrize(("argv", "hint"), REFUSED, ids=[" ".join(a[:3]) for a, _ in REFUSED])
def test_an_unknown_scope_is_refused_with_the_nearest_names_and_nothing_changes(
        shops: CancelQ, redis_url: str, argv: list[str], hint: str) -> None:
    before = _everything(redis_url)
    code, output = _cli(*argv)
    assert code != 0, output
    assert hint in " ".join(output.split()), output
    assert _everything(redis_url) == before


def test_a_pattern_pauses_each_shop_it_matches_and_status_says_why_who_and_when(shops: CancelQ) -> None:
    code, output = _cli("pause", "--shop", "shopee/*", "--reason", "incident 42", "--by", "alice")
    assert code == 0 and output == "paused shop:shopee/shopee-my-main, shop:shopee/shopee-sg-main\n"
    code, output = _cli("status", "--json")
    pauses = json.loads(output)["pauses"]
    assert {k: (v["reason"], v["by"]) for k, v in pauses.items()} == {
        "shop:shopee/shopee-sg-main": ("incident 42", "alice"), "shop:shopee/shopee-my-main": ("incident 42", "alice"),
        "platform:shopline": ("before", "ops")}
    assert all(v["at"].startswith("20") and v["at"].endswith("Z") for v in pauses.values())
    code, output = _cli("status")
    text = " ".join(output.split())
    assert code == 0 and "shop:shopee/shopee-sg-main: paused 20" in text and "by alice: incident 42" in text
    code, output = _cli("resume", "--shop", "shopee/*")
    assert code == 0 and "resumed shop:shopee/shopee-sg-main" in output and "resumed shop:shopee/shopee-my-main" in output
    assert sorted(json.loads(_cli("status", "--json")[1])["pauses"]) == ["platform:shopline"]


def test_status_shows_each_open_circuits_next_probe_and_circuits_close_closes_one(shops: CancelQ) -> None:
    r = shops.rt.redis
    r.hset(keys.GATE, keys.circuit_field("shopee:shopee-sg-main"), "9999999999999 30000 - 0")
    r.hset(keys.GATE, keys.circuit_field("lazada"), probe_value(30000))
    circuits = json.loads(_cli("status", "--json")[1])["circuits"]
    assert circuits["shopee:shopee-sg-main"]["probe_in_s"] > 1e6 and circuits["lazada"]["probe_in_s"] == 0
    text = " ".join(_cli("status")[1].split())
    assert "shopee:shopee-sg-main: next probe in" in text and "lazada: half-open: the next job probes" in text
    assert _cli("circuits", "close", "shopee/shopee-sg-main") == (0, "closed the circuit of shopee/shopee-sg-main\n")
    assert _cli("circuits", "close", "lazada") == (0, "closed the circuit of lazada\n")
    code, output = _cli("circuits", "close", "lazada")
    assert code == 1 and "is not open" in output
    assert json.loads(_cli("status", "--json")[1])["circuits"] == {}
    closed = [e.data for e in shops.rt.events.recent(types=["circuit.closed"])]
    assert [(e["circuits"], e["by"]) for e in closed] == [(["shopee:shopee-sg-main"], "operator"), (["lazada"], "operator")]


def test_the_python_api_refuses_the_same_names(shops: CancelQ) -> None:
    with pytest.raises(ValueError, match="did you mean shopee/shopee-sg-main"):
        shops.pause("shop", "shopee-sg-main")
    with pytest.raises(ValueError, match="did you mean lazada"):
        shops.resume("platform", "lazda")
