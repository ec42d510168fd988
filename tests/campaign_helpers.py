"""Shared by the campaign tests: shops on the four platforms, campaign files, an in-process drain."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from cancelq.core import keys
from cancelq.jobs.ledger import now_ms
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from cancelq.tasks.run import JobRun

from .helpers import add_kit_shop, wait_until
from .kits import Kit
from .kits.lazada import KIT as LAZADA
from .kits.shopee import KIT as SHOPEE
from .kits.shoplazza import KIT as SHOPLAZZA
from .kits.shopline import KIT as SHOPLINE

KITS: dict[str, Kit] = {k.platform: k for k in (SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA)}
WRITE_ENDPOINTS = {"cancel_order", "handle_buyer_cancellation", "InitReverseOrderCancel"}
COLUMNS = ["platform", "shop", "order_id", "reason", "note", "items", "options"]


def add_shops(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    """Each kit's shop in the sandbox and the registry, with limits out of the way; platform -> shop name."""
    names = {}
    for platform, kit in KITS.items():
        names[platform] = add_kit_shop(kit, sandbox, rt.shops, sandbox_url)
        rt.shops.add(platform, names[platform], dict(kit.credentials), base_url=sandbox_url,
                     limits={"rate_per_s": 10_000, "burst": 1000, "per_api": platform == "lazada"})
    return names


def seed(sandbox: SandboxClient, orders: list[tuple[str, str, str]]) -> None:
    """(platform, order id, state) orders in the sandbox."""
    sandbox.add_orders([{"platform": p, "shop": KITS[p].shop_ref, "order_id": o, "state": s} for p, o, s in orders])


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()})
    return path


def row(platform: str, shops: dict[str, str], order_id: str, reason: str = "CUSTOMER_REQUEST",
        **extra: Any) -> dict[str, Any]:
    return {"platform": platform, "shop": shops[platform], "order_id": order_id, "reason": reason, **extra}


def job_ids(rt: Runtime, campaign_id: str) -> list[str]:
    return sorted(str(j) for j in rt.redis.hkeys(keys.campaign_states(campaign_id)))


def drain(rt: Runtime, ids: list[str], *, max_runs: int = 30) -> None:
    """Deliver each job as the pump would, each time it falls due, until all are final (no broker)."""
    for job_id in ids:
        for _ in range(max_runs):
            JobRun(rt, job_id).run()
            record = rt.ledger.get(job_id)
            assert record is not None
            if record.final:
                break
            wait_until(lambda job_id=job_id: (rt.ledger.get(job_id).due_at or 0) <= now_ms(),  # type: ignore
                       timeout_s=10, what=f"job {job_id} to fall due")
        else:
            raise AssertionError(f"job {job_id} not final after {max_runs} runs")


def deliver_queued(rt: Runtime) -> list[str]:
    """Run every message waiting in the broker queue as a worker would (its job id, and the job if it carries
    one), oldest first; returns the job ids."""
    import base64

    ids = []
    while (raw := rt.redis.rpop("cancelq")) is not None:
        payload = json.loads(base64.b64decode(json.loads(str(raw))["body"]))[0][0]
        JobRun(rt, payload["job_id"], payload.get("job")).run()
        ids.append(payload["job_id"])
    return ids


def ledger_states(rt: Runtime, ids: list[str]) -> Counter[str]:
    return Counter(rt.ledger.get(j).state for j in ids)  # type: ignore[union-attr]


def writes_seen(sandbox: SandboxClient) -> int:
    calls = sandbox.stats()["calls"]
    return sum(n for endpoints in calls.values() for name, n in endpoints.items() if name in WRITE_ENDPOINTS)
