"""``shops add`` checks credentials before storing them; ``--verify`` (and ``shops verify``) makes one cheap
authenticated read against the platform (here the sandbox over HTTP) and reports what it said."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.runtime import reset_runtime
from cancelq.sandbox.control import SandboxClient
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

runner = CliRunner()
SECRET_FIELDS = {"shopee": "partner_key", "lazada": "app_secret", "shopline": "access_token",
                 "shoplazza": "access_token"}


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("kit", [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA], ids=lambda k: k.platform)
def test_verify_reports_what_the_platform_says_of_the_credentials(kit: Kit, redis_client: redis.Redis,
                                                                  sandbox: SandboxClient, sandbox_url: str) -> None:
    reset_runtime()
    sandbox.add_shop(kit.platform, **kit.shop_spec)
    good = json.dumps(dict(kit.credentials))
    code, output = _cli("shops", "add", kit.platform, "main", "--credentials", good, "--base-url", sandbox_url,
                        "--verify")
    assert code == 0 and "saved" in output and "verify: credentials accepted" in output, output
    wrong = {**kit.credentials, SECRET_FIELDS[kit.platform]: "not-the-secret-0123456789"}
    code, output = _cli("shops", "add", kit.platform, "main", "--credentials", json.dumps(wrong), "--base-url",
                        sandbox_url, "--verify")
    assert code == 1 and "verify: the platform refused" in output, output
    assert not any(str(secret) in output for secret in (*kit.secrets, "not-the-secret-0123456789"))
    code, output = _cli("shops", "verify", kit.platform, "main")
    assert code == 1 and "refused" in output
    assert sum(sum(o["calls"].values()) for o in sandbox.orders()) == 0, "no order was touched"


def test_the_issues_shop_with_one_field_is_refused_and_not_saved(redis_client: redis.Redis) -> None:
    reset_runtime()
    code, output = _cli("shops", "add", "shopee", "x2", "--credentials", '{"partner_id":1}')
    assert code == 2 and "shopee/x2: Shopee credentials need partner_id, partner_key, shop_id and access_token: " \
                         "shop_id is missing" in output
    assert _cli("shops", "show", "shopee", "x2")[0] == 2
