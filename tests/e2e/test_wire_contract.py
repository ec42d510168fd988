"""The job contract at the wire: a Celery protocol-2 message pushed onto Redis by hand, as README shows."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import redis

from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.helpers import WorkerProcess, add_kit_shop, wait_until
from tests.kits.shoplazza import KIT as SHOPLAZZA


def raw_message(job: dict[str, object]) -> str:
    body = json.dumps([[job], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    message_id = str(uuid.uuid4())
    return json.dumps({
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "sh", "task": "cancelq.cancel", "id": message_id, "root_id": message_id,
                    "parent_id": None, "group": None},
        "properties": {"correlation_id": message_id, "delivery_mode": 2, "delivery_tag": message_id,
                       "body_encoding": "base64", "delivery_info": {"exchange": "", "routing_key": "cancelq"},
                       "priority": 0},
    })


def test_a_hand_built_message_on_the_redis_list_is_run(redis_client: redis.Redis, sandbox: SandboxClient,
                                                       sandbox_url: str, redis_url: str, tmp_path: Path) -> None:
    runtime = Runtime()
    shop = add_kit_shop(SHOPLAZZA, sandbox, runtime.shops, sandbox_url)
    sandbox.add_order("shoplazza", SHOPLAZZA.shop_ref, "633130-00000004", state="cancellable")
    job = {"platform": "shoplazza", "shop": shop, "order_id": "633130-00000004", "reason": "CUSTOMER_REQUEST"}
    with WorkerProcess(tmp_path / "worker.log", redis_url):
        redis_client.lpush("cancelq", raw_message(job))
        redis_client.lpush("cancelq", raw_message({**job, "reason": "BECAUSE"}))
        record = wait_until(lambda: (r := runtime.ledger.find(f"shoplazza/{shop}/633130-00000004")) and r.final and r,
                            what="the job to finish")
        rejected = wait_until(runtime.ledger.rejected, what="the bad job to be rejected")
    assert record.state == "succeeded"
    assert sandbox.order("shoplazza", "633130-00000004")["cancels_applied"] == 1
    assert "reason: 'BECAUSE' is not one of" in rejected[0].reject_reason
    runtime.session.close()
