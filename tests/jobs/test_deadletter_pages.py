"""The dead letters' paged, filtered query: through the indexes the outcome script writes, at 100,000 entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cancelq.core import keys
from cancelq.jobs.deadletters import DeadFilter
from cancelq.jobs.intake import admit
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.deliveries import run_until_final
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE

MANY_DEAD = (Path(__file__).parent / "lua" / "many_dead.lua").read_text()
BIG = 100_000
MANY = 10_000


def fill_old_store(client: redis.Redis, n: int = BIG) -> int:
    """n dead letters as a store written before the indexes existed (entries and keys.DLQ only), 10 ms apart;
    returns when the newest was written."""
    newest = now_ms()
    client.eval(MANY_DEAD, 1, keys.DLQ, n, newest, keys.dlq_entry(""))
    return newest


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.session.close()


def _dead(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, order_id: str, **extra: str) -> str:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state="shipped")
    admitted = admit(rt, {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST",
                          **extra})
    assert run_until_final(rt, admitted.job_id).state == "dead"
    return admitted.job_id


def test_the_outcome_script_indexes_a_dead_letter_and_removing_it_unindexes_it(
        rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    job_id = _dead(rt, sandbox, sandbox_url, "IDX-1", client_ref="om-4711")
    code = rt.dead_letters.show(job_id)["error"]["code"]  # type: ignore[index]

    by_code = rt.dead_letters.page(DeadFilter(code=code, platform="shopee", kind="permanent"))
    counts = rt.dead_letters.counts()

    assert [e["job_id"] for e in by_code.entries] == [job_id] and by_code.total == 1
    assert rt.dead_letters.page(DeadFilter(code="other")).total == 0
    assert counts["kind"] == {"permanent": 1} and counts["platform"] == {"shopee": 1} and counts["code"] == {code: 1}
    assert [e["job_id"] for e in rt.dead_letters.page(search="IDX").entries] == [job_id]
    assert [e["job_id"] for e in rt.dead_letters.page(search="om-47").entries] == [job_id]
    assert [e["job_id"] for e in rt.dead_letters.page(search=job_id).entries] == [job_id]
    assert rt.dead_letters.remove([job_id]) == 1
    assert rt.dead_letters.counts() == {} and rt.dead_letters.page(search="IDX").total == 0
    assert rt.redis.zcard(keys.DLQ_SEARCH) == 0
    assert rt.redis.scard(keys.DLQ_DIMS) == 4 and rt.dead_letters.ensure_indexed() == 0
    assert rt.redis.scard(keys.DLQ_DIMS) == 0, "the upgrade step's sweep forgets the empty indexes"


def test_a_store_written_before_the_indexes_is_listed_by_a_scan_until_the_upgrade_step_indexes_it(
        rt: Runtime) -> None:
    fill_old_store(rt.redis, 1000)
    before = rt.dead_letters.page(DeadFilter(code="ApiCallLimit"), limit=5)

    assert before.total == 200 and len(before.entries) == 5
    assert rt.dead_letters.ensure_indexed() == 1000 and rt.dead_letters.ensure_indexed() == 0
    assert rt.dead_letters.page(DeadFilter(code="ApiCallLimit"), limit=5).entries == before.entries


def test_a_page_of_fifty_through_the_indexes(rt: Runtime) -> None:
    """10,000 entries here (the console's test and bench/dlq_pages.py take 100,000)."""
    newest = fill_old_store(rt.redis, MANY)
    assert rt.dead_letters.ensure_indexed() == MANY

    page = rt.dead_letters.page(DeadFilter(code="ApiCallLimit", platform="lazada"), offset=50, limit=50)
    everything = rt.dead_letters.page(offset=MANY - 50, limit=50)
    recent = rt.dead_letters.page(DeadFilter(kind="poison", since_ms=newest - 30_000))
    counts = rt.dead_letters.counts()

    assert page.total == MANY // 20 and len(page.entries) == 50
    assert all(e["error"]["code"] == "ApiCallLimit" and e["job"]["platform"] == "lazada" for e in page.entries)
    times = [e["last_failure_at"] for e in page.entries]
    assert times == sorted(times, reverse=True)
    assert everything.total == MANY and len(everything.entries) == 50
    assert recent.total == 1000 and all(e["kind"] == "poison" for e in recent.entries)
    assert counts["kind"] == {"exhausted": 3333, "permanent": 3334, "poison": 3333}
    assert counts["campaign"] == {"camp-big": 100}
    assert [e["job_id"] for e in rt.dead_letters.page(search="ORD-7777").entries] == ["big00000000000007777"]
