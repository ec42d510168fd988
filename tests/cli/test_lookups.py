"""Finding a job the way people do: by its order, by the first characters of its id (an ambiguous prefix is an
error listing the matches), in ``job show``, ``job find`` and ``dlq show``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.client import AmbiguousJob, CancelQ, JobNotFound
from cancelq.core import keys
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import drain
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

runner = CliRunner()


@pytest.fixture()
def cq(redis_client: redis.Redis, sandbox: SandboxClient, sandbox_url: str) -> Iterator[CancelQ]:
    reset_runtime()
    rt = Runtime()
    add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, name="main")
    add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url, name="outlet")
    yield CancelQ(rt)
    rt.session.close()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_a_job_is_found_by_its_order_on_any_shop_and_by_the_first_characters_of_its_id(cq: CancelQ) -> None:
    main = cq.submit({"platform": "shopee", "shop": "main", "order_id": "ORD-7", "reason": "OUT_OF_STOCK"})
    outlet = cq.submit({"platform": "shopee", "shop": "outlet", "order_id": "ORD-7", "reason": "OUT_OF_STOCK"})
    assert {r.job_id for r in cq.find_order("ORD-7")} == {main.job_id, outlet.job_id}
    assert [r.job_id for r in cq.find_order("ORD-7", shop="outlet")] == [outlet.job_id]
    assert cq.find_order("ORD-7", platform="lazada") == []

    code, output = _cli("job", "find", "--order", "ORD-7", "--json")
    assert code == 0 and {j["job_id"] for j in json.loads(output)} == {main.job_id, outlet.job_id}
    code, output = _cli("job", "find", "--order", "ORD-404")
    assert code == 1 and output.count("error:") == 1 and "ORD-404" in output
    assert _cli("job", "find", "--order", "ORD-7", "--key", "x")[0] == 2
    ref = cq.submit({"platform": "shopee", "shop": "main", "order_id": "ORD-8", "reason": "OUT_OF_STOCK",
                     "client_ref": "om-81"})
    for option in ("--client-ref", "--ref"):
        code, output = _cli("job", "find", option, "om-81", "--json")
        assert code == 0 and json.loads(output)["job_id"] == ref.job_id
    code, output = _cli("job", "find", "--platform", "shopy", "--order", "ORD-7")
    assert code == 2 and "did you mean shopee?" in output

    assert cq.job(main.job_id[:8]).job_id == main.job_id
    code, output = _cli("job", "show", main.job_id[:8])
    assert code == 0 and main.job_id in output
    assert _cli("job", "show", "abc")[0] == 1  # too short to look for


def test_an_ambiguous_prefix_lists_its_matches_and_a_dead_letter_is_found_by_one(cq: CancelQ) -> None:
    rt = cq.rt
    for suffix in ("aaaa0000000000000001", "aaaa0000000000000002"):
        rt.redis.hset(keys.job(suffix), mapping={"job_id": suffix, "state": "queued", "job": "{}"})
    with pytest.raises(AmbiguousJob) as caught:
        cq.job("aaaa0000")
    assert "aaaa0000000000000001" in str(caught.value) and "aaaa0000000000000002" in str(caught.value)
    code, output = _cli("job", "show", "aaaa0000")
    assert code == 2 and output.count("error:") == 1 and "starts 2 job ids" in output

    job_id = rt.ledger.reject({"platform": "shopee"}, "bad", source="test")
    rt.redis.set(keys.dlq_entry(job_id), json.dumps({"job_id": job_id, "kind": "permanent"}))
    rt.redis.zadd(keys.DLQ, {job_id: 1})
    assert cq.dead_letter(job_id[:6])["job_id"] == job_id  # type: ignore[index]
    code, output = _cli("dlq", "show", job_id[:6])
    assert code == 0 and job_id in output
    with pytest.raises(JobNotFound):
        cq.replay("ffff")


def test_attempts_have_one_name_and_one_number_in_dlq_list_and_job_show(cq: CancelQ, sandbox: SandboxClient) -> None:
    sandbox.add_order("shopee", SHOPEE.shop_ref, "EX-1", state="cancellable")
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_server", message="System error.",
                  times=None)
    handle = cq.submit({"platform": "shopee", "shop": "main", "order_id": "EX-1", "reason": "OUT_OF_STOCK"})
    drain(cq.rt, [handle.job_id])
    record = cq.job(handle.job_id)
    assert record.state == "dead" and record.dead_kind == "exhausted" and record.attempts > 1
    code, output = _cli("dlq", "list", "--order", "EX-1")
    assert code == 0 and f"attempts={record.attempts} " in output and "tries" not in output
    code, output = _cli("job", "show", handle.job_id)
    assert code == 0 and f"attempts={record.attempts} " in output
    events = [line for line in output.splitlines() if line.startswith("  20")]
    assert events and all("{'" not in line for line in events) and any(" dead kind=exhausted" in line
                                                                        for line in events), output
    code, output = _cli("dlq", "show", handle.job_id[:8])
    assert code == 0 and json.loads(output)["attempts"] == record.attempts
