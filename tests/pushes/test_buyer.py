"""Buyers' cancel requests: ``BuyerRequests.handle`` under each shop policy, the accept job through intake and a
real worker, over HTTP to the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from cancelq.client import CancelQ
from cancelq.core import counters, keys
from cancelq.jobs.contract import parse_job
from cancelq.platforms.base import CancelRequest, OrderStatus
from cancelq.platforms.reasons import Reason
from cancelq.pushes.buyer import BuyerRequests, Handled
from cancelq.pushes.notice import PushNotice
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import drain
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.jobs.test_events import VALIDATOR
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shopline import KIT as SHOPLINE

KITS = {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE)}


@pytest.fixture()
def shops(client: CancelQ, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    return {p: add_kit_shop(kit, sandbox, client.rt.shops, sandbox_url) for p, kit in KITS.items()}


def _requested(client: CancelQ, sandbox: SandboxClient, shops: dict[str, str], platform: str,
               order_id: str) -> tuple[PushNotice, OrderStatus]:
    """A buyer asks to cancel in the sandbox; the notice of it, and the order as the push processor reads it."""
    sandbox.add_order(platform, KITS[platform].shop_ref, order_id, state="cancellable")
    sandbox.buyer_cancel(platform, order_id)
    notice = PushNotice(platform=platform, shop=shops[platform], order_id=order_id, kind="buyer_request",
                        status="IN_CANCEL", message_id=f"msg-{order_id}")
    shop = client.rt.shops.get(platform, shops[platform])
    assert shop is not None
    return notice, client.rt.adapter(shop).read_status(CancelRequest(order_id=order_id, reason=Reason.OTHER))


def _announced(client: CancelQ) -> list[dict[str, object]]:
    """The cancel.buyer_requested events, each checked against the event contract."""
    found = client.rt.events.recent(types=["cancel.buyer_requested"])
    for event in found:
        assert [e.message for e in VALIDATOR.iter_errors(event.to_dict())] == []
    return [e.data for e in found]


def _queued(client: CancelQ) -> int:
    return int(client.rt.redis.llen("cancelq"))


def test_accept_submits_one_job_that_a_worker_runs_once(client: CancelQ, sandbox: SandboxClient,
                                                        shops: dict[str, str], tmp_path: Path,
                                                        redis_url: str) -> None:
    handled: list[Handled] = []
    for platform in ("shopee", "lazada"):
        client.set_buyer_policy(f"{platform}/{shops[platform]}", "accept", ["shipped"])
        notice, order = _requested(client, sandbox, shops, platform, "BR-1" if platform == "shopee" else "41001")
        handled += [BuyerRequests(client.rt).handle(notice, order), BuyerRequests(client.rt).handle(notice, order)]
    assert [h.decision for h in handled] == ["accept", "duplicate"] * 2
    assert handled[0].job_id == handled[1].job_id and handled[2].job_id == handled[3].job_id
    assert _queued(client) == 2, "one message per request"
    assert [(e["platform"], e["decision"], e["job_id"]) for e in _announced(client)] == [
        ("shopee", "accept", handled[0].job_id), ("lazada", "accept", handled[2].job_id)]
    with WorkerProcess(tmp_path / "w.log", redis_url):
        for h in handled[::2]:
            assert h.job_id is not None
            record = wait_until(lambda h=h: (r := client.rt.ledger.get(h.job_id)) is not None and r.final and r,  # type: ignore[arg-type]
                                what="the accept job's outcome")
            assert record.state == "succeeded" and record.job["action"] == "accept_buyer_cancel"  # type: ignore[union-attr]
    for platform, order_id in (("shopee", "BR-1"), ("lazada", "41001")):
        view = sandbox.order(platform, order_id)
        assert view["cancels_applied"] == 1 and KITS[platform].is_cancelled(view)
    finished = client.rt.events.recent(types=["cancel.succeeded"])
    assert {e.data["action"] for e in finished} == {"accept_buyer_cancel"} and len(finished) == 2


def test_notify_only_announces(client: CancelQ, sandbox: SandboxClient, shops: dict[str, str]) -> None:
    notice, order = _requested(client, sandbox, shops, "lazada", "41002")
    assert client.rt.shops.get("lazada", shops["lazada"]).buyer_policy.policy == "notify"  # type: ignore[union-attr]
    assert BuyerRequests(client.rt).handle(notice, order).decision == "notify"
    assert BuyerRequests(client.rt).handle(notice, order).decision == "duplicate"
    [event] = _announced(client)
    assert event["decision"] == "notify" and "job_id" not in event and event["status"] == order.raw_status
    assert _queued(client) == 0 and client.find(key="accept/lazada/lazada-shop/41002") is None
    assert sandbox.order("lazada", "41002")["cancels_applied"] == 0


def test_ignore_records_nothing_but_a_counter(client: CancelQ, sandbox: SandboxClient, shops: dict[str, str]) -> None:
    client.set_buyer_policy(f"shopee/{shops['shopee']}", "ignore")
    notice, order = _requested(client, sandbox, shops, "shopee", "BR-3")
    before = counters.REGISTRY.get_sample_value("cancelq_buyer_requests_total",
                                                {"platform": "shopee", "decision": "ignore"}) or 0.0
    keys_before = set(client.rt.redis.keys("*"))
    assert BuyerRequests(client.rt).handle(notice, order).decision == "ignore"
    assert set(client.rt.redis.keys("*")) == keys_before, "no key written"
    assert counters.REGISTRY.get_sample_value("cancelq_buyer_requests_total",
                                              {"platform": "shopee", "decision": "ignore"}) == before + 1


def test_accept_unless_shipped_only_announces_a_shipped_order(client: CancelQ, sandbox: SandboxClient,
                                                              shops: dict[str, str]) -> None:
    client.set_buyer_policy(f"lazada/{shops['lazada']}", "accept", ["shipped"])
    sandbox.add_order("lazada", LAZADA.shop_ref, "41004", items=[{}, {"status": "shipped"}])
    first = int(sandbox.order("lazada", "41004")["items"][0]["order_item_id"])
    sandbox.buyer_cancel("lazada", "41004", order_item_ids=[first])
    shop = client.rt.shops.get("lazada", shops["lazada"])
    assert shop is not None
    order = client.rt.adapter(shop).read_status(CancelRequest(order_id="41004", reason=Reason.OTHER))
    notice = PushNotice(platform="lazada", shop=shops["lazada"], order_id="41004", kind="buyer_request",
                        status="CANCEL_INIT", message_id="m-41004")
    handled = BuyerRequests(client.rt).handle(notice, order)
    assert handled.decision == "notify" and "--unless shipped" in handled.why and _queued(client) == 0
    [event] = _announced(client)
    assert event["policy"] == "accept" and event["decision"] == "notify" and "shipped" in str(event["why"])


def test_a_request_no_longer_pending_is_not_announced(client: CancelQ, sandbox: SandboxClient,
                                                      shops: dict[str, str]) -> None:
    client.set_buyer_policy(f"shopee/{shops['shopee']}", "accept")
    notice, _ = _requested(client, sandbox, shops, "shopee", "BR-5")
    sandbox.cancel_elsewhere("shopee", "BR-5")
    shop = client.rt.shops.get("shopee", shops["shopee"])
    assert shop is not None
    order = client.rt.adapter(shop).read_status(CancelRequest(order_id="BR-5", reason=Reason.OTHER))
    assert BuyerRequests(client.rt).handle(notice, order).decision == "not_pending"
    assert _announced(client) == [] and _queued(client) == 0


def test_accept_and_cancel_are_two_jobs_and_other_platforms_refuse_the_action(client: CancelQ,
                                                                              shops: dict[str, str]) -> None:
    base = {"platform": "shopee", "shop": shops["shopee"], "order_id": "BR-6", "reason": "CUSTOMER_REQUEST"}
    accept = parse_job({**base, "action": "accept_buyer_cancel"})
    assert accept.idempotency_key == f"accept/shopee/{shops['shopee']}/BR-6" != parse_job(base).idempotency_key
    assert parse_job(base).to_dict() == base | {"idempotency_key": f"shopee/{shops['shopee']}/BR-6"}
    handle = client.submit({**base, "platform": "shopline", "shop": shops["shopline"], "action": "accept_buyer_cancel"})
    assert handle.rejected and "shopline has no buyer cancel requests" in handle.reason
    bad = client.submit({**base, "action": "accept_everything"})
    assert bad.rejected and bad.reason.startswith("action:")
    assert not client.rt.redis.exists(keys.idempotency(accept.idempotency_key))


@pytest.mark.parametrize(("platform", "order_id", "endpoint"), [
    ("shopee", "BR-7", "handle_buyer_cancellation"), ("lazada", "41007", "InitReverseOrderCancelDecide")])
def test_an_accept_whose_answer_is_lost_is_read_back_not_sent_twice(client: CancelQ, sandbox: SandboxClient,
                                                                    shops: dict[str, str], platform: str,
                                                                    order_id: str, endpoint: str) -> None:
    sandbox.add_order(platform, KITS[platform].shop_ref, order_id, state="cancellable")
    sandbox.buyer_cancel(platform, order_id)
    sandbox.fault(platform, "drop", endpoint=endpoint, after_write=True)
    handle = client.submit({"platform": platform, "shop": shops[platform], "order_id": order_id,
                        "reason": "CUSTOMER_REQUEST", "action": "accept_buyer_cancel"})
    drain(client.rt, [handle.job_id])
    record = client.rt.ledger.get(handle.job_id)
    assert record is not None and (record.state, record.attribution) == ("succeeded", "inferred")
    view = sandbox.order(platform, order_id)
    assert view["cancels_applied"] == 1 and view["calls"][endpoint] == 1


def test_a_new_request_after_a_refused_one_runs_the_accept_job_again(client: CancelQ, sandbox: SandboxClient,
                                                                     shops: dict[str, str],
                                                                     sandbox_url: str) -> None:
    from tests.platforms.test_buyer_requests import ORDER, _reject

    client.set_buyer_policy(f"lazada/{shops['lazada']}", "accept")
    notice, order = _requested(client, sandbox, shops, "lazada", ORDER)
    first = BuyerRequests(client.rt).handle(notice, order)
    _reject(LAZADA, sandbox, sandbox_url)  # the seller refused in the seller center before the job ran
    assert first.job_id is not None
    drain(client.rt, [first.job_id])
    record = client.rt.ledger.get(first.job_id)
    assert record is not None and record.state == "dead" and record.last_error["code"] == "no_buyer_request"  # type: ignore[index]
    sandbox.buyer_cancel("lazada", ORDER)  # the buyer asks again: a new reverse order
    shop = client.rt.shops.get("lazada", shops["lazada"])
    assert shop is not None
    again = BuyerRequests(client.rt).handle(notice, client.rt.adapter(shop).read_status(
        CancelRequest(order_id=ORDER, reason=Reason.OTHER)))
    assert (again.decision, again.job_id) == ("accept", first.job_id)
    drain(client.rt, [first.job_id])
    assert client.rt.ledger.get(first.job_id).state == "succeeded"  # type: ignore[union-attr]
    assert sandbox.order("lazada", ORDER)["cancels_applied"] == 1
    assert [e["job_id"] for e in _announced(client)] == [first.job_id, first.job_id]
