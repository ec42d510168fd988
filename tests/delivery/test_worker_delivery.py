"""Delivery from real worker processes: every event type once per endpoint, a worker SIGKILLed mid-delivery and
a Redis restart losing nothing, and Celery replies read from the broker by a client of our own."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import redis

from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.core.settings import Settings
from cancelq.delivery import service
from cancelq.jobs import events
from cancelq.jobs.contract import parse_job
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shopee import KIT as SHOPEE

from .conftest import WORKER_ENV
from .receiver import Receiver, settled


def _all_ids(rt: Runtime) -> list[str]:
    return [e.id for e in rt.events.recent(count=10_000)]


def _job(shop: str, order_id: str, **more: Any) -> dict[str, Any]:
    return {"platform": "shopee", "shop": shop, "order_id": order_id, "reason": "CUSTOMER_REQUEST", **more}


def _every_type(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, tmp_path: Path) -> None:
    """At least one event of every type, each made by the code that makes it in production."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    for order_id, state in (("OK-1", "cancellable"), ("GONE-1", "cancelled"), ("SHIP-1", "shipped"),
                            ("DRY-1", "cancellable"), ("C-1", "cancellable")):
        sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state=state)
    for order_id in ("OK-1", "GONE-1", "SHIP-1", "DRY-1"):
        job_id = rt.ledger.intake(parse_job(_job(shop, order_id, **({"dry_run": True} if order_id == "DRY-1"
                                                                   else {})))).job_id
        while not rt.ledger.get(job_id).final:  # type: ignore[union-attr]
            JobRun(rt, job_id).run()
    rt.ledger.reject({"order_id": "X"}, "no such shop", source="test")
    for _ in range(rt.settings.circuit_shop_threshold):
        rt.circuits.failure("shopee", "s1")
    rt.circuits.success("shopee", "s1")
    registered = rt.shops.get("shopee", shop)
    assert registered is not None
    rt.shops.mark_reauth(registered, "refresh_token_expired")
    rt.shops.add("shopee", shop, dict(SHOPEE.credentials), base_url=sandbox_url)
    from cancelq.client import CancelQ

    fault = sandbox.fault("shopee", "error", endpoint="cancel_order", code="shop_banned", http_status=403, times=1)
    banned = rt.ledger.intake(parse_job(_job(shop, "OK-2"))).job_id
    sandbox.add_order("shopee", SHOPEE.shop_ref, "OK-2", state="cancellable")
    JobRun(rt, banned).run()  # parks the shop: scope.parked
    assert sandbox.remove_fault(fault["id"])["hits"] == 1
    CancelQ(rt).resume("shop", f"shopee/{shop}")  # scope.lifted
    while not rt.ledger.get(banned).final:  # type: ignore[union-attr]
        JobRun(rt, banned).run()

    path = tmp_path / "c.csv"
    path.write_text(f"platform,shop,order_id,reason\nshopee,{shop},C-1,CUSTOMER_REQUEST\n", encoding="utf-8")
    result = CancelQ(rt).run_campaign(path)
    for job_id in rt.redis.hkeys(keys.campaign_states(result.campaign_id)):
        while not rt.ledger.get(str(job_id)).final:  # type: ignore[union-attr]
            JobRun(rt, str(job_id)).run()
    # a campaign abort reaching a job mid-run is the one outcome not cheap to stage here: appended as its script does
    events.add(rt.redis, "cancel.aborted", events.job_data(_job(shop, "AB-1"), "job-aborted", attempts=0))
    from cancelq.ops.audit import Action, Audit

    Audit(rt.redis).record(Action(operator="ops", action="circuit.close", target="shopee:s1", count=1,
                                  address="127.0.0.1"))
    _buyer_request(rt, sandbox, shop)
    _pushed(rt, sandbox, sandbox_url, shop)
    spare = service.endpoints_of(rt).add("http://127.0.0.1:9/spare-endpoint")
    assert service.endpoints_of(rt).disable(spare.id, "removed by the test")


def _pushed(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, shop: str) -> None:
    """order.cancelled_elsewhere and cancel.unconfirmed, as the push processor makes them."""
    from cancelq.pushes.orders import Orders
    from tests.pushes.pushing import notice, unconfirmed_job

    sandbox.add_order("shopee", SHOPEE.shop_ref, "EL-1", state="cancellable")
    sandbox.cancel_elsewhere("shopee", "EL-1")
    Orders(rt).handle(notice("shopee", shop, "EL-1", "CANCELLED"))
    unconfirmed_job(rt, sandbox, sandbox_url, "UNC-9")


def _buyer_request(rt: Runtime, sandbox: SandboxClient, shop: str) -> None:
    """cancel.buyer_requested: a buyer asks to cancel, the order is read as the push processor reads it."""
    from cancelq.platforms.base import CancelRequest
    from cancelq.platforms.reasons import Reason
    from cancelq.pushes.buyer import BuyerRequests
    from cancelq.pushes.notice import PushNotice

    sandbox.add_order("shopee", SHOPEE.shop_ref, "BUY-1", state="cancellable")
    sandbox.buyer_cancel("shopee", "BUY-1")
    registered = rt.shops.get("shopee", shop, fresh=True)
    assert registered is not None
    order = rt.adapter(registered).read_status(CancelRequest(order_id="BUY-1", reason=Reason.OTHER))
    notice = PushNotice(platform="shopee", shop=shop, order_id="BUY-1", kind="buyer_request", status="IN_CANCEL",
                        message_id="buy-1")
    assert BuyerRequests(rt).handle(notice, order).decision == "notify"


def test_every_event_type_reaches_each_matching_endpoint_once_signed(
        rt: Runtime, receiver: Receiver, other: Receiver, sandbox: SandboxClient, sandbox_url: str,
        tmp_path: Path, redis_url: str) -> None:
    store = service.endpoints_of(rt)
    everything, cancels = store.add(receiver.url), store.add(other.url, events=["cancel.*"], shops=["shopee/*"])
    receiver.secrets, other.secrets = [everything.secret], [cancels.secret]
    _every_type(rt, sandbox, sandbox_url, tmp_path)
    stream = rt.events.recent(count=1000)
    assert {e.type for e in stream} == set(events.TYPES)
    with WorkerProcess(tmp_path / "w.log", redis_url, env=WORKER_ENV) as worker:
        wait_until(lambda: len(receiver.received) >= len(stream), what="every event at the first endpoint")
        wait_until(lambda: settled(rt), what="nothing left to deliver")
        log_text = worker.log_path.read_text()
    assert sorted(receiver.ids()) == sorted(f"{e.id}:{everything.id}" for e in stream), "once per event"
    wanted = [e for e in stream if e.type.startswith("cancel.") and e.data.get("platform") == "shopee"]
    assert sorted(other.ids()) == sorted(f"{e.id}:{cancels.id}" for e in wanted)
    assert [r["body"] for r in sorted(receiver.received, key=lambda r: r["body"]["id"])] == [
        e.to_dict() for e in stream]
    assert not receiver.refused and not other.refused
    delivered = json.dumps(receiver.events()) + json.dumps(store.recent(everything.id, 1000)) + log_text
    credentials = [str(v) for v in SHOPEE.credentials.values() if isinstance(v, str) and len(str(v)) > 8]
    for secret in [everything.secret, cancels.secret, *credentials]:
        assert secret not in delivered
    assert "s3cr3t-url-token" not in log_text


def test_a_worker_killed_mid_delivery_loses_nothing(rt: Runtime, receiver: Receiver, tmp_path: Path,
                                                    redis_url: str) -> None:
    endpoint = service.endpoints_of(rt).add(receiver.url)
    receiver.secrets, receiver.hold = [endpoint.secret], True
    for i in range(5):
        rt.ledger.reject({"n": i}, "bad", source="test")
    first = WorkerProcess(tmp_path / "w1.log", redis_url, name="w1", env=WORKER_ENV).start()
    try:
        wait_until(lambda: receiver.arrived >= 1, what="a delivery in flight")
    finally:
        first.kill()
    assert not receiver.received
    receiver.release()
    with WorkerProcess(tmp_path / "w2.log", redis_url, name="w2", env=WORKER_ENV):
        wait_until(lambda: len(set(receiver.ids())) == 5, what="every delivery sent by the second worker",
                   timeout_s=30)
        wait_until(lambda: settled(rt), what="nothing left to deliver")
    assert sorted(set(receiver.ids())) == sorted(f"{e}:{endpoint.id}" for e in _all_ids(rt))


def test_a_redis_restart_loses_no_event(receiver: Receiver, tmp_path: Path) -> None:
    valkey = ValkeyProcess(tmp_path / "valkey", persist=True)
    url = valkey.start()
    rt = Runtime(settings=Settings(redis_url=url, webhook_allow_private=True), redis_url=url)
    endpoint = service.endpoints_of(rt).add(receiver.url)
    receiver.secrets = [endpoint.secret]
    try:
        with WorkerProcess(tmp_path / "w.log", url, env=WORKER_ENV):
            for i in range(10):
                rt.ledger.reject({"n": i}, "bad", source="before")
            wait_until(lambda: len(receiver.received) >= 3, what="some deliveries before the restart")
            valkey.stop()
            valkey.start()
            wait_until(lambda: _answers(rt.redis), what="the server back")
            for i in range(10):
                rt.ledger.reject({"n": i}, "bad", source="after")
            expected = {f"{e}:{endpoint.id}" for e in _all_ids(rt)}
            assert len(expected) == 20
            wait_until(lambda: expected <= set(receiver.ids()), what="every event delivered", timeout_s=60)
    finally:
        rt.redis.close()
        valkey.stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _replies(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The reply tasks waiting on the broker's queue, as a Celery client reads them: (task name, its argument)."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append({"task": message["headers"]["task"], "event": args[0]})
    return found


def test_each_job_sends_its_reply_task_once(rt: Runtime, sandbox: SandboxClient, sandbox_url: str,
                                            tmp_path: Path, redis_url: str) -> None:
    from cancelq.client import CancelQ

    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    for order_id in ("R-1", "R-2", "R-3"):
        sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state="cancellable")
    reply = {"task": "om.cancel_done", "queue": "om-replies"}
    cq = CancelQ(rt)
    with WorkerProcess(tmp_path / "w.log", redis_url, env=WORKER_ENV):
        handles = [cq.submit(_job(shop, o, client_ref=f"om-{o}", reply=reply)) for o in ("R-1", "R-2", "R-3")]
        handles.append(cq.submit(_job("no-such-shop", "R-4", client_ref="om-R-4", reply=reply)))
        cq.submit(_job(shop, "R-5"))  # no reply asked
        wait_until(lambda: len(_replies(rt.redis, "om-replies")) >= 4, what="the reply tasks")
        wait_until(lambda: settled(rt), what="every event dispatched")
    replies = _replies(rt.redis, "om-replies")
    assert sorted(r["event"]["data"]["job_id"] for r in replies) == sorted(h.job_id for h in handles)
    assert {r["task"] for r in replies} == {"om.cancel_done"}
    by_ref = {r["event"]["data"]["client_ref"]: r["event"] for r in replies}
    assert {by_ref[f"om-R-{i}"]["type"] for i in (1, 2, 3)} == {"cancel.succeeded"}
    assert by_ref["om-R-4"]["type"] == "cancel.rejected"
    assert all(rt.redis.get(keys.reply_sent(r["event"]["id"])) == "sent" for r in replies)
