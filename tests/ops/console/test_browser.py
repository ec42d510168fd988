"""The console in a real headless Chromium (Debian's, driven by Playwright): log in, filter dead letters by
code, replay one from Flower's own task page and see the job succeed, pause and resume a campaign.

With ``CANCELQ_SCREENSHOTS=DIR`` the pages are also saved there (``docs/`` holds the README's)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cancelq.client import CancelQ
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, unavailable, wait_until
from tests.jobs.test_deadletter_pages import fill_old_store
from tests.kits.shopee import KIT as SHOPEE
from tests.ops.console.server import USERS, ConsoleServer

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any, console: ConsoleServer) -> Iterator[Any]:
    """A page signed in to Flower (basic auth) as the operator ``ops``; a console message fails the test."""
    context = browser.new_context(http_credentials={"username": "ops", "password": USERS["ops"]},
                                  base_url=console.url, viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()
    assert not problems, f"the browser reported: {problems}"


def shoot(page: Any, name: str) -> None:
    target = os.environ.get("CANCELQ_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=False)


def test_log_in_and_filter_dead_letters_by_code(page: Any, rt: Runtime) -> None:
    fill_old_store(rt.redis, 2000)
    rt.dead_letters.ensure_indexed()

    page.goto("/cancelq/dead")
    assert page.locator("#cq-dead-total").inner_text() == "2000"
    shoot(page, "console-dead-letters")
    page.click('[data-cq-code="ApiCallLimit"]')
    page.wait_for_url("**/cancelq/dead?code=ApiCallLimit*")

    codes = page.locator("#cq-dead-table tbody td.cq-code").all_inner_texts()
    assert len(codes) == 50 and set(codes) == {"ApiCallLimit"}
    assert "of 400" in page.locator("main").inner_text()
    page.locator("#cq-dead-table tbody tr a").first.click()
    page.wait_for_url("**/cancelq/dead/big*")
    assert page.locator("#cq-entry-code").inner_text() == "ApiCallLimit"
    shoot(page, "console-dead-letter")


def test_replay_from_flowers_task_page_and_see_the_job_succeed(
        page: Any, console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str, redis_url: str,
        tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "BRW-1", state="cancellable")
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_network", message="Inner http call failed",
                  times=None)
    with WorkerProcess(tmp_path / "worker.log", redis_url):
        handle = CancelQ(rt).submit({"platform": "shopee", "shop": shop, "order_id": "BRW-1",
                                     "reason": "CUSTOMER_REQUEST"})
        assert handle.wait(timeout_s=30, poll_s=0.05).state == "dead"
        task_id = wait_until(lambda: _failed_task(console, "BRW-1"), timeout_s=30, what="the FAILURE in Flower")
        sandbox.clear_faults()

        page.goto(f"/task/{task_id}")
        shoot(page, "flower-task-replay")
        page.click("#cq-task-replay")
        page.wait_for_url(f"**/cancelq/job/{handle.job_id}")
        page.wait_for_function("document.getElementById('cq-job-state').textContent === 'succeeded'",
                               timeout=30_000)
    assert "replayed 1 dead letter(s)" in page.locator("#cq-flash").inner_text()
    assert rt.ledger.get(handle.job_id).state == "succeeded"  # type: ignore[union-attr]
    shoot(page, "console-job")
    page.goto("/cancelq/audit")
    assert "dead.replay" in page.locator("#cq-audit-table").inner_text()
    shoot(page, "console-audit")


def _failed_task(console: ConsoleServer, order_id: str) -> str | None:
    tasks = requests.get(f"{console.url}/api/tasks", params={"taskname": "cancelq.cancel", "state": "FAILURE"},
                         auth=("ops", USERS["ops"]), timeout=5).json()
    found = [uuid for uuid, t in tasks.items() if f"order={order_id} " in str(t.get("args"))]
    return found[0] if found else None


def test_pause_and_resume_a_campaign(page: Any, rt: Runtime, sandbox: SandboxClient, sandbox_url: str,
                                     tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id\n" + "".join(f"CMP-{i}\n" for i in range(20)), encoding="utf-8")
    result = CancelQ(rt).run_campaign(orders, platform="shopee", shop=shop, reason="OUT_OF_STOCK")

    page.goto("/cancelq/campaigns")
    page.click(f"text={result.campaign_id}")
    assert page.locator("#cq-campaign-status").inner_text() == "running"
    shoot(page, "console-campaign")
    page.click("#cq-pause")
    page.wait_for_selector("#cq-resume")
    assert page.locator("#cq-campaign-status").inner_text() == "paused"
    assert CancelQ(rt).campaign(result.campaign_id).status == "paused"
    page.click("#cq-resume")
    page.wait_for_selector("#cq-pause")
    assert CancelQ(rt).campaign(result.campaign_id).status == "running"
    for _ in range(rt.settings.circuit_shop_threshold):
        rt.circuits.failure("shopee", shop)
    page.goto("/cancelq/shops")
    page.fill('#cq-pause-form input[name="scope"]', "platform:lazada")
    page.fill('#cq-pause-form input[name="reason"]', "Lazada maintenance window")
    page.click('#cq-pause-form button')
    page.wait_for_selector('[data-scope="platform:lazada"]')
    assert "ops" in page.locator('[data-scope="platform:lazada"]').inner_text()
    assert page.locator(f'[data-circuit="shopee:{shop}"]').count() == 1
    shoot(page, "console-shops")
