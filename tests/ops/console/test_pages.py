"""The console's pages over real HTTP from a real ``cancelq flower``: each empty, and with a large store."""

from __future__ import annotations

import re

import pytest
import redis

from cancelq.jobs.deadletters import DeadLetters
from cancelq.ops.audit import Action, Audit
from tests.jobs.test_deadletter_pages import BIG, fill_old_store
from tests.ops.console.server import ConsoleServer

PAGES = {"/cancelq/dead": "cq-dead-empty", "/cancelq/campaigns": "cq-campaigns-empty",
         "/cancelq/shops": "cq-shops-empty", "/cancelq/jobs": "cq-find", "/cancelq/audit": "cq-audit-empty"}
ROW = re.compile(r'<tr data-job="([^"]+)"')


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_empty_inside_flower_with_its_tabs_csp_and_no_store(
        console: ConsoleServer, redis_client: redis.Redis, path: str) -> None:
    reply = console.session().get(path)

    assert reply.status_code == 200, reply.text[-2000:]
    assert f'id="{PAGES[path]}"' in reply.text
    assert all(f'data-cq-tab="{tab}"' in reply.text for tab in ("cancelq-dead", "cancelq-campaigns", "cancelq-shops",
                                                                 "cancelq-jobs", "cancelq-audit"))
    assert 'href="/workers"' in reply.text, "the page is Flower's, with Flower's navbar"
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["Cache-Control"] == "no-store"


def test_pages_need_flowers_credentials(console: ConsoleServer, redis_client: redis.Redis) -> None:
    import requests

    assert requests.get(f"{console.url}/cancelq/dead", timeout=5).status_code == 401
    assert requests.get(f"{console.url}/cancelq/dead", auth=("ops", "wrong"), timeout=5).status_code == 401


def test_flowers_own_pages_carry_the_console_tabs(console: ConsoleServer, redis_client: redis.Redis) -> None:
    reply = console.session().get("/tasks")
    assert reply.status_code == 200 and 'data-cq-tab="cancelq-dead"' in reply.text


def test_dead_letters_of_a_100k_store_paged_filtered_counted_and_exported(
        console: ConsoleServer, redis_client: redis.Redis) -> None:
    fill_old_store(redis_client)
    assert DeadLetters(redis_client).ensure_indexed() == BIG
    user = console.session("viewer")

    first = user.get("/cancelq/dead", code="ApiCallLimit", platform="lazada")
    later = user.get("/cancelq/dead", code="ApiCallLimit", platform="lazada", offset="4950")
    found = user.get("/cancelq/dead", q="ORD-4242")
    export = user.get("/cancelq/dead/export", campaign="camp-big", fmt="csv")
    everything = user.get("/cancelq/dead")

    assert first.status_code == 200 and len(ROW.findall(first.text)) == 50
    assert "1&ndash;50 of 5000" in first.text and 'id="cq-older"' in first.text
    assert len(ROW.findall(later.text)) == 50 and "4951&ndash;5000 of 5000" in later.text
    assert 'id="cq-older"' not in later.text
    assert ROW.findall(found.text) == ["big00000000000004242"]
    assert export.headers["Content-Type"].startswith("text/csv") and len(export.text.splitlines()) == 1 + 1000
    assert 'data-cq-code="ApiCallLimit"' in everything.text and "20000" in everything.text
    assert f'id="cq-dead-total">{BIG}<' in everything.text
    assert "Replay selected" not in everything.text and 'id="cq-readonly"' in everything.text


def test_a_bad_filter_gets_one_clear_message(console: ConsoleServer, redis_client: redis.Redis) -> None:
    user = console.session()
    bad_since = user.get("/cancelq/dead", since="last tuesday")
    bad_kind = user.get("/cancelq/dead", kind="zombie")

    assert bad_since.status_code == 400 and "since takes an ISO date or time" in bad_since.text
    assert bad_kind.status_code == 400 and "kind is one of permanent, exhausted, poison" in bad_kind.text


def test_the_audit_page_with_many_entries_shows_the_newest_hundred(console: ConsoleServer,
                                                                   redis_client: redis.Redis) -> None:
    audit = Audit(redis_client)
    for i in range(1000):
        audit.record(Action(operator="ops", action="dead.replay", target=f"job-{i}", count=1, address="10.0.0.1"))
    page = console.session("viewer").get("/cancelq/audit")

    rows = re.findall(r'<tr data-audit="([^"]+)"><td>[^<]*</td><td>ops</td><td>dead.replay</td><td[^>]*>job-(\d+)<',
                      page.text)
    assert len(rows) == 100 and rows[0][1] == "999" and rows[-1][1] == "900"
    older = console.session("viewer").get("/cancelq/audit", before=rows[-1][0])
    assert "job-899" in older.text and "job-900<" not in older.text
