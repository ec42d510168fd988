"""A campaign row for an order with a buyer's pending request accepts the request instead of cancelling, and its
dry run says so ("would accept")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cancelq.client import CancelQ
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import KITS, add_shops, drain, job_ids, row, write_csv

ORDERS = {"shopee": "BRC-1", "lazada": "42001"}


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    names = add_shops(client.rt, sandbox, sandbox_url)
    for platform, order_id in ORDERS.items():
        sandbox.add_order(platform, KITS[platform].shop_ref, order_id, state="cancellable")
        sandbox.buyer_cancel(platform, order_id)
    return names


def _campaign(client: CancelQ, shops: dict[str, str], tmp_path: Path, *, dry_run: bool) -> dict[str, object]:
    path = write_csv(tmp_path / "rows.csv", [row(p, shops, o, reason="OUT_OF_STOCK") for p, o in ORDERS.items()])
    campaign_id = client.run_campaign(path, dry_run=dry_run).campaign_id
    drain(client.rt, job_ids(client.rt, campaign_id))
    return {r.platform: r for r in client.campaign_report(campaign_id)}


def test_a_dry_run_counts_would_accept(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                       tmp_path: Path) -> None:
    report = _campaign(client, shops, tmp_path, dry_run=True)
    assert {p: r.preview for p, r in report.items()} == {"shopee": "would_accept_buyer_request",  # type: ignore[attr-defined]
                                                         "lazada": "would_accept_buyer_request"}
    assert all("accept" in r.side_effects for r in report.values())  # type: ignore[attr-defined]
    assert sandbox.stats()["cancels_applied"] == 0


def test_a_campaign_accepts_a_pending_request(client: CancelQ, shops: dict[str, str], sandbox: SandboxClient,
                                              tmp_path: Path) -> None:
    report = _campaign(client, shops, tmp_path, dry_run=False)
    assert {p: r.outcome for p, r in report.items()} == {"shopee": "succeeded", "lazada": "succeeded"}  # type: ignore[attr-defined]
    shopee, lazada = sandbox.order("shopee", ORDERS["shopee"]), sandbox.order("lazada", ORDERS["lazada"])
    assert shopee["cancels_applied"] == lazada["cancels_applied"] == 1
    assert shopee["extra"]["cancel_by"] == "buyer" and "handle_buyer_cancellation ACCEPT" in shopee["history"]
    assert lazada["calls"]["InitReverseOrderCancelDecide"] == 1 and "InitReverseOrderCancel" not in lazada["calls"]
    assert "OrderCancelValidate" not in lazada["calls"]
    assert {i["cancel_return_initiator"] for i in lazada["items"]} == {"cancellation-customer"}
