"""Campaign, job and shop pages over real HTTP: a dry run's answers, the report, live progress, finding a
job by any of its names, and no secret on any page."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.jobs.intake import admit
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.deliveries import run_until_final
from tests.helpers import add_kit_shop
from tests.kits.shopee import KIT as SHOPEE
from tests.ops.console.server import ConsoleServer


def test_a_dry_run_campaign_shows_what_would_happen_its_progress_and_report(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    for order_id, state in (("DRY-1", "cancellable"), ("DRY-2", "shipped"), ("DRY-3", "cancellable")):
        sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state=state)
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id\nDRY-1\nDRY-2\nDRY-3\n", encoding="utf-8")
    result = CancelQ(rt).run_campaign(orders, platform="shopee", shop=shop, reason="OUT_OF_STOCK", dry_run=True)
    for job_id in rt.redis.hkeys(keys.campaign_states(result.campaign_id)):
        run_until_final(rt, str(job_id))
    user = console.session("viewer")

    page = user.get(f"/cancelq/campaign/{result.campaign_id}")
    listing = user.get("/cancelq/campaigns")
    progress = json.loads(user.get(f"/cancelq/campaign/{result.campaign_id}/progress").text)
    report = list(csv.DictReader(io.StringIO(user.get(f"/cancelq/campaign/{result.campaign_id}/report").text)))

    assert 'data-preview="would_cancel">2<' in page.text and 'data-preview="cannot_cancel">1<' in page.text
    assert 'id="cq-pause"' not in page.text, "a viewer gets no buttons"
    assert f'data-campaign="{result.campaign_id}"' in listing.text
    assert progress["status"] == "finished" and progress["done"] == 3 and progress["previewed"] == 3
    assert [(r["order_id"], r["preview"]) for r in report] == [
        ("DRY-1", "would_cancel"), ("DRY-2", "cannot_cancel"), ("DRY-3", "would_cancel")]
    assert sandbox.order("shopee", "DRY-1")["cancels_applied"] == 0


def test_a_job_is_found_by_its_id_key_client_reference_or_dead_order_id(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "JOB-1", state="shipped")
    admitted = admit(rt, {"platform": "shopee", "shop": shop, "order_id": "JOB-1", "reason": "CUSTOMER_REQUEST",
                          "client_ref": "om-99"})
    assert run_until_final(rt, admitted.job_id).state == "dead"
    user = console.session("viewer")

    for q in (admitted.job_id, f"shopee/{shop}/JOB-1", "om-99", "JOB-1"):
        reply = user.get("/cancelq/jobs", q=q)
        assert reply.url.endswith(f"/cancelq/job/{admitted.job_id}"), q
        assert 'id="cq-job-state"' in reply.text and ">dead<" in reply.text
        assert "its dead letter" in reply.text and "dead" in reply.text
    sandbox.add_order("shopee", SHOPEE.shop_ref, "JOB-2", state="cancellable")
    waiting = admit(rt, {"platform": "shopee", "shop": shop, "order_id": "JOB-2", "reason": "CUSTOMER_REQUEST"})
    assert user.get("/cancelq/jobs", q="JOB-2").url.endswith(f"/cancelq/job/{waiting.job_id}")
    missing = user.get("/cancelq/jobs", q="nothing-like-it")
    assert 'id="cq-not-found"' in missing.text
    assert user.get("/cancelq/job/unknown0job").status_code == 404


def test_no_secret_on_any_console_page(console: ConsoleServer, rt: Runtime, sandbox: SandboxClient,
                                       sandbox_url: str) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, "SEC-1", state="shipped")
    job_id = admit(rt, {"platform": "shopee", "shop": shop, "order_id": "SEC-1", "reason": "CUSTOMER_REQUEST"}).job_id
    run_until_final(rt, job_id)
    registered = rt.shops.get("shopee", shop)
    assert registered is not None
    rt.shops.mark_reauth(registered, "refresh_token_expired")
    user = console.session()

    pages = [user.get(path).text for path in (
        "/cancelq/dead", f"/cancelq/dead/{job_id}", f"/cancelq/job/{job_id}", "/cancelq/shops", "/cancelq/audit",
        "/cancelq/dead/export?fmt=jsonl", "/cancelq/dead/export?fmt=csv")]

    assert "refresh_token_expired" in pages[3] and "SEC-1" in pages[1]
    leaked = [secret for secret in SHOPEE.secrets for text in pages if secret in text]
    assert not leaked


def test_many_campaigns_listed_and_one_aborted_after_a_confirmation(
        console: ConsoleServer, rt: Runtime, sandbox: SandboxClient, sandbox_url: str, tmp_path: Path) -> None:
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    ids = []
    for i in range(55):
        orders = tmp_path / f"c{i}.csv"
        orders.write_text(f"order_id\nMANY-{i}\n", encoding="utf-8")
        ids.append(CancelQ(rt).run_campaign(orders, platform="shopee", shop=shop, reason="OUT_OF_STOCK").campaign_id)
    ops = console.session()

    listing = ops.get("/cancelq/campaigns")
    ask = ops.post(f"/cancelq/campaign/{ids[-1]}/abort")
    status_before = CancelQ(rt).campaign(ids[-1]).status
    aborted = ops.post(f"/cancelq/campaign/{ids[-1]}/abort", {"confirm": "yes"})

    assert listing.text.count("<tr data-campaign=") == 50 and f'data-campaign="{ids[-1]}"' in listing.text
    assert "Abort campaign" in ask.text and status_before == "running"
    assert f"aborted {ids[-1]}" in aborted.text
    assert CancelQ(rt).campaign(ids[-1]).status in ("aborting", "aborted")
    assert [(f["action"], f["target"]) for _, f in rt.redis.xrange(keys.AUDIT)] == [("campaign.abort", ids[-1])]
