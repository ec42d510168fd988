"""Feeding pushes as the receiver would (``PushStore.append``) and reading what the fleet made of them."""

from __future__ import annotations

import itertools
import json
import time
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from cancelq.jobs.events import Event
from cancelq.jobs.intake import admit
from cancelq.pushes.notice import PushNotice
from cancelq.pushes.orders import Orders
from cancelq.pushes.store import PushStore
from cancelq.pushes.watch import Watch
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.deliveries import run_until_final
from tests.helpers import add_kit_shop, wait_until
from tests.kits import Kit
from tests.kits.shopee import KIT as SHOPEE

_ids = itertools.count(1)
VALIDATOR = Draft202012Validator(json.loads(
    resources.files("cancelq.schemas").joinpath("event.schema.json").read_text()))


def notice(platform: str, shop: str, order_id: str, status: str, *, kind: str = "status",
           message_id: str | None = None) -> PushNotice:
    now = int(time.time() * 1000)
    return PushNotice(platform=platform, shop=shop, order_id=order_id, kind=kind, status=status,
                      message_id=message_id or f"msg-{next(_ids)}", pushed_at_ms=now, received_ms=now)


def push(rt: Runtime, platform: str, shop: str, order_id: str, status: str, **more: Any) -> PushNotice:
    """Append one push to the stream, as the receiver does after verifying it."""
    sent = notice(platform, shop, order_id, status, **more)
    PushStore(rt.redis).append(sent)
    return sent


def submit(rt: Runtime, kit: Kit, shop: str, order_id: str) -> str:
    admitted = admit(rt, {"platform": kit.platform, "shop": shop, "order_id": order_id,
                          "reason": "CUSTOMER_REQUEST", "note": "test"})
    assert not admitted.rejected, admitted.reason
    return admitted.job_id


def events_of(rt: Runtime, *types: str) -> list[Event]:
    """The events of these types, each checked against the published event schema."""
    found = rt.events.recent(count=1000, types=types)
    for event in found:
        errors = [e.message for e in VALIDATOR.iter_errors(event.to_dict())]
        assert not errors, (event, errors)
    return found


CANCELLED_WORD = {"shopee": "CANCELLED", "lazada": "canceled", "shopline": "canceled", "shoplazza": "cancelled"}
"""The word each platform's push carries for a cancel (as the receiver keeps it)."""


def unconfirmed_job(rt: Runtime, sandbox: SandboxClient, sandbox_url: str, order_id: str = "UNC-1") -> str:
    """A job we cancelled whose order still reads IN_CANCEL past ``verify_within_s``: announced unconfirmed."""
    shop = add_kit_shop(SHOPEE, sandbox, rt.shops, sandbox_url)
    sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state="cancellable")
    job_id = submit(rt, SHOPEE, shop, order_id)
    record = run_until_final(rt, job_id)
    assert record.state == "succeeded"
    sandbox.add_order("shopee", SHOPEE.shop_ref, order_id, state="in_cancel")
    orders = Orders(rt, watch=Watch(rt.redis, verify_within_s=0.001))
    assert orders.watch.add(record)
    wait_until(lambda: orders.sweep() == 1, timeout_s=5, what="the watch's deadline")
    assert [u.job_id for u in orders.watch.unconfirmed()] == [job_id]
    return job_id
