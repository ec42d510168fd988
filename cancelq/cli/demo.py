"""``cancelq demo``: the whole product in a minute, on loopback, with nothing installed but the package.

A private Valkey, the platform sandbox and a real worker process; a few hundred
orders over the four platforms with the faults platforms really produce; a live
progress display; then the outcomes, the dead letters and a check against the
sandbox's own counters that nothing was cancelled twice.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape

from cancelq.cli.demo_http import start_api, submit_all
from cancelq.cli.progress import after_live, demo_view
from cancelq.cli.render import Col, cut, short_ids, table
from cancelq.client import CancelQ
from cancelq.core import keys
from cancelq.core.embedded import ValkeyProcess
from cancelq.core.process import ChildProcess
from cancelq.core.settings import get_settings
from cancelq.jobs.states import FINAL_STATES
from cancelq.runtime import Runtime, reset_runtime
from cancelq.sandbox.control import SandboxClient, is_cancelled
from cancelq.sandbox.runner import SandboxProcess

SHOPS: dict[str, dict[str, Any]] = {
    "shopee": {"name": "shopee-sg-main", "ref": "14701711", "credentials": {
        "partner_id": 2001887, "partner_key": "shpk_demo_partner_key_8f1e2d3c4b5a6978", "shop_id": 14701711,
        "access_token": "4c7259534969484e71734d695a6e6d55"}},
    "lazada": {"name": "lazada-vn-store", "ref": "300042", "credentials": {
        "app_key": "100132", "app_secret": "lazada_demo_app_secret_Qw3rTy", "country": "vn",
        "access_token": "50000600c10demoLazadaAccessTokenA1b2"}, "sandbox": {"seller_id": "300042"}},
    "shopline": {"name": "shopline-tw-outlet", "ref": "outlet", "credentials": {
        "handle": "outlet", "access_token": "shopline_demo_token_5e6f7a8b", "app_key": "shopline_demo_app_key",
        "app_secret": "shopline_demo_app_secret_9c0d"}},
    "shoplazza": {"name": "shoplazza-us-gifts", "ref": "gifts", "credentials": {
        "shop": "gifts", "access_token": "shoplazza_demo_token_1a2b3c4d", "client_id": "shoplazza_demo_client",
        "client_secret": "shoplazza_demo_client_secret_77"}},
}
PREFIX = {"shopee": "SPE", "lazada": "LZD", "shopline": "SLN", "shoplazza": "SLZ"}
DEMO_LIMITS: dict[str, dict[str, Any]] = {
    # The platforms' documented limits, loosened so that the demo ends within a minute.
    "lazada": {"rate_per_s": 40, "burst": 20, "per_api": True},
    "shoplazza": {"rate_per_s": 8, "burst": 10},
}
SHARE = {"shopee": 0.35, "lazada": 0.30, "shopline": 0.20, "shoplazza": 0.15}
REASONS = {"shopee": "CUSTOMER_REQUEST", "lazada": "OUT_OF_STOCK", "shopline": "CUSTOMER_REQUEST",
           "shoplazza": "OTHER"}
DEMO_ENV = {
    "CANCELQ_RETRY_BASE_S": "0.3", "CANCELQ_RETRY_CAP_S": "3", "CANCELQ_MAX_ATTEMPTS": "8",
    "CANCELQ_AUTH_WAIT_S": "2", "CANCELQ_PUMP_INTERVAL_S": "0.1", "CANCELQ_LEASE_S": "30",
    "CANCELQ_TASK_TIME_LIMIT_S": "25", "CANCELQ_LOG_FORMAT": "json", "CANCELQ_HTTP_READ_TIMEOUT_S": "5",
}


def _orders(total: int, rng: random.Random) -> list[dict[str, Any]]:
    orders = []
    for platform, share in SHARE.items():
        for i in range(max(4, int(total * share))):
            roll = rng.random()
            state = "shipped" if roll < 0.03 else "cancelled" if roll < 0.08 else "cancellable"
            order_id = f"{PREFIX[platform]}-{i:05d}"
            orders.append({"platform": platform, "shop": SHOPS[platform]["ref"], "order_id": order_id, "state": state})
    return orders


def _faults(sandbox: SandboxClient, orders: list[dict[str, Any]]) -> None:
    lazada = next(o["order_id"] for o in orders if o["platform"] == "lazada" and o["state"] == "cancellable")
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_server",
                  message="System error. Please try again later.", probability=0.12, times=None)
    sandbox.fault("shopee", "error", endpoint="cancel_order", code="error_network",
                  message="Inner http call failed", probability=0.05, times=None, after_write=True)
    sandbox.fault("lazada", "error", endpoint="OrderCancelValidate", code="ApiCallLimit", ban_s=1, times=6)
    sandbox.fault("lazada", "ship", endpoint="OrderCancelValidate", order_id=lazada, after_write=True)
    sandbox.fault("shopline", "error", endpoint="cancel_order", http_status=429, retry_after_s=1, times=5)
    sandbox.fault("shoplazza", "error", endpoint="cancel_order", http_status=500, probability=0.1, times=None)
    sandbox.expire_token("shoplazza", SHOPS["shoplazza"]["ref"])


def _jobs(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    jobs = [{"platform": o["platform"], "shop": SHOPS[o["platform"]]["name"], "order_id": o["order_id"],
             "reason": REASONS[o["platform"]], "note": "demo campaign", "campaign_id": "demo", "source": "demo"}
            for o in orders]
    jobs.append({"platform": "shopee", "shop": "no-such-shop", "order_id": "X-1", "reason": "OUT_OF_STOCK"})
    jobs.append({"platform": "shopee", "shop": SHOPS["shopee"]["name"], "order_id": "X-2", "reason": "PRICING_ERROR"})
    return jobs


def run_demo(*, orders: int = 300, concurrency: int = 32, console: Console | None = None) -> int:
    console = console or Console()
    rng = random.Random(7)
    workdir = Path(tempfile.mkdtemp(prefix="cancelq-demo-"))
    worker = ChildProcess(name="the demo's worker", stop_timeout_s=20.0)
    api: ChildProcess | None = None
    with ValkeyProcess(workdir / "valkey") as valkey, SandboxProcess() as sandbox_proc:
        os.environ.update({**DEMO_ENV, "CANCELQ_REDIS_URL": valkey.url})
        console.print(f"[bold]cancelq demo[/bold]  valkey {valkey.url}  sandbox {sandbox_proc.url}  logs {workdir}")
        client = _setup(sandbox_proc.url, orders, rng)
        try:
            with (workdir / "worker.log").open("wb") as log:
                worker.launch([sys.executable, "-m", "cancelq.cli.main", "worker", "--concurrency", str(concurrency)],
                              env=os.environ, stdout=log, stderr=subprocess.STDOUT)
            api, api_url = start_api(workdir)
            return _run(client, api_url, SandboxClient(sandbox_proc.url), rng, console, workdir)
        finally:
            if api is not None:
                api.stop()
            worker.stop()


def _setup(sandbox_url: str, total: int, rng: random.Random) -> Any:
    get_settings.cache_clear()
    reset_runtime()
    sandbox = SandboxClient(sandbox_url)
    client = CancelQ(Runtime())
    for platform, shop in SHOPS.items():
        sandbox.add_shop(platform, **shop["credentials"], **shop.get("sandbox", {}))
        client.rt.shops.add(platform, shop["name"], shop["credentials"], base_url=sandbox_url,
                            limits=DEMO_LIMITS.get(platform))
    orders = _orders(total, rng)
    sandbox.add_orders(orders)
    _faults(sandbox, orders)
    client.orders = orders  # type: ignore[attr-defined]
    return client


def _run(client: Any, api_url: str, sandbox: SandboxClient, rng: random.Random, console: Console,
         workdir: Path) -> int:
    started = time.monotonic()
    handles, how = submit_all(client, api_url, _jobs(client.orders))
    console.print(how, highlight=False)
    ids = [h.job_id for h in handles]
    token_renewed = False
    with Live(demo_view(0, len(ids), 0.0, {}), console=console, refresh_per_second=4) as live:
        while True:
            states = _states(client, ids)
            done = sum(1 for s in states if s in FINAL_STATES)
            live.update(demo_view(done, len(ids), time.monotonic() - started, Counter(states)))
            if not token_renewed and time.monotonic() - started > 3:
                _renew_shoplazza_token(client, sandbox)
                token_renewed = True
            if done == len(ids) or time.monotonic() - started > 150:
                break
            time.sleep(0.25)
    after_live(console)
    elapsed = time.monotonic() - started
    return _summary(client, sandbox, handles, elapsed, console, workdir)


def _renew_shoplazza_token(client: Any, sandbox: SandboxClient) -> None:
    """The operator's part until automatic refresh lands: a new token for the shop whose token expired."""
    shop = SHOPS["shoplazza"]
    creds = {**shop["credentials"], "access_token": "shoplazza_demo_token_renewed_9z8y"}
    sandbox.add_shop("shoplazza", **creds)
    base_url = client.rt.shops.get("shoplazza", shop["name"]).base_url
    client.rt.shops.add("shoplazza", shop["name"], creds, base_url=base_url)


def _states(client: Any, ids: list[str]) -> list[str]:
    pipe = client.rt.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job(job_id), "state")
    return [s or "missing" for s in pipe.execute()]


def _summary(client: Any, sandbox: SandboxClient, handles: list[Any], elapsed: float, console: Console,
             workdir: Path) -> int:
    records = [client.job(h.job_id) for h in handles]
    console.print(outcomes_table(records, elapsed))
    dead = client.dead_letters(limit=20)
    console.print(dead_letters_table(dead) if dead else "no dead letters")
    for record in client.rejected(10):
        console.print(escape(f"rejected {record.job_id}: {record.reject_reason}"), highlight=False)
    retried = sum(1 for r in records if r.attempts > 0)
    return _integrity(sandbox, records, retried, console, workdir)


OUTCOME_COLUMNS = ("succeeded", "already_cancelled", "dead", "rejected")


def outcomes_table(records: list[Any], elapsed: float) -> Any:
    """Jobs per platform and outcome (``unfinished``: not final when the demo stopped waiting)."""
    grid = table(Col("platform", fixed=True), *(Col(k, fixed=True, right=True) for k in OUTCOME_COLUMNS),
                 Col("unfinished", fixed=True, right=True), title=f"{len(records):,} jobs in {elapsed:.1f}s")
    by_platform: dict[str, Counter[str]] = {}
    for record in records:
        by_platform.setdefault(str(record.job.get("platform", "?")), Counter())[record.state] += 1
    for platform, counts in sorted(by_platform.items()):
        unfinished = sum(v for k, v in counts.items() if k not in FINAL_STATES)
        grid.add_row(platform, *(f"{counts[k]:,}" for k in OUTCOME_COLUMNS), f"{unfinished:,}")
    return grid


def dead_letters_table(entries: list[dict[str, Any]]) -> Any:
    """The dead letters as ``cancelq dlq list`` shows them: short ids, messages cut at a word."""
    ids = short_ids(e["job_id"] for e in entries)
    grid = table(Col("job", fixed=True), Col("order", fixed=True), Col("kind", fixed=True), "error",
                 title="dead letters (cancelq dlq list)")
    for entry in entries:
        e = entry.get("error") or {}
        error = f"{e.get('code') or e.get('error_class')}: {cut(str(e.get('message')), 48)}"
        grid.add_row(ids[entry["job_id"]], escape(f"{entry['job']['platform']} {entry['job']['order_id']}"),
                     entry["kind"], escape(error))
    return grid


def _integrity(sandbox: SandboxClient, records: list[Any], retried: int, console: Console, workdir: Path) -> int:
    stats = sandbox.stats()
    cancelled_ok = {(str(r.job.get("platform")), str(r.job.get("order_id"))) for r in records
                    if r.state in ("succeeded", "already_cancelled")}
    cancelled = {(o["platform"], o["order_id"]) for o in sandbox.orders() if is_cancelled(o)}
    unfinished = sum(1 for r in records if r.state not in FINAL_STATES)
    held = sum(1 for r in records if any(e.get("error_class") == "Deferred" for e in r.events))
    console.print(f"jobs retried after a failure: {retried}; held back by a limit: {held}; platform calls: "
                  f"{sum(sum(v.values()) for v in stats['calls'].values())}; cancels applied: "
                  f"{stats['cancels_applied']}")
    console.print(f"orders cancelled twice: {len(stats['cancelled_twice'])}; cancelled per the ledger: "
                  f"{len(cancelled_ok)}; cancelled on the platforms: {len(cancelled)}; unfinished: {unfinished}")
    for platform, order_id in sorted(cancelled_ok ^ cancelled)[:10]:
        side = "ledger only" if (platform, order_id) in cancelled_ok else "platform only"
        console.print(f"  mismatch: {platform} {order_id} ({side})")
    ok = not stats["cancelled_twice"] and cancelled_ok == cancelled and unfinished == 0
    console.print("[green]ledger and platform agree[/green]" if ok else
                  f"[red]ledger and platform disagree[/red] (see {workdir / 'worker.log'})")
    return 0 if ok else 1
