"""``cancelq apikeys create/list/revoke`` (typer's runner, real Valkey): a key printed once, never listed."""

from __future__ import annotations

import json
import re

import redis
from typer.testing import CliRunner

from cancelq.api.apikeys import ApiKeys
from cancelq.cli.main import app
from cancelq.runtime import reset_runtime

runner = CliRunner()


def test_a_key_is_printed_once_listed_without_it_and_revoked(redis_client: redis.Redis) -> None:
    reset_runtime()
    made = runner.invoke(app, ["apikeys", "create", "om", "--scopes", "jobs:write,jobs:read",
                               "--shops", "shopee/main,lazada/*"])
    assert made.exit_code == 0, made.output
    token = re.search(r"cqk_[0-9a-f]{16}_[0-9a-f]{48}", made.output.replace("\n", ""))
    assert token is not None and ApiKeys(redis_client).verify(token.group(0)) is not None
    listed = runner.invoke(app, ["apikeys", "list", "--json"])
    assert listed.exit_code == 0 and token.group(0) not in listed.output
    entry = json.loads(listed.output)[0]
    assert (entry["name"], entry["scopes"], entry["shops"]) == ("om", ["jobs:write", "jobs:read"],
                                                                ["shopee/main", "lazada/*"])
    assert runner.invoke(app, ["apikeys", "revoke", "om"]).exit_code == 0
    assert ApiKeys(redis_client).verify(token.group(0)) is None
    assert "no API keys" in runner.invoke(app, ["apikeys", "list"]).output


def test_bad_requests_print_one_message_and_change_nothing(redis_client: redis.Redis) -> None:
    reset_runtime()
    for args, says in ((["create", "om", "--scopes", "jobs:delete"], "jobs:delete"),
                       (["create", "om", "--shops", "ebay/x"], "ebay/x"), (["revoke", "nobody"], "no API key")):
        result = runner.invoke(app, ["apikeys", *args])
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert ApiKeys(redis_client).all() == []
