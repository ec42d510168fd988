"""What a campaign asks of its shops' cancellation budgets: the cancels that count, the room now, and how many
rows would wait for the window to free room (``gate/budget.py``).

For a dry run, the rows whose preview would cancel the order (not those that would accept the buyer's own
request, or could not be cancelled); for a real run, the rows not yet finished. Read when an operator asks
(``campaign status``), never on a job's path.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from cancelq.core import keys
from cancelq.gate.budget import Budget, usage
from cancelq.jobs.states import FINAL_STATES
from cancelq.runtime import Runtime

CHUNK = 1000


@dataclass(frozen=True)
class CampaignBudget:
    """One shop's budget as the campaign meets it."""

    shop: str
    max: int
    window_s: float
    used: int
    room: int
    counted: int
    would_go: int
    would_wait: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def campaign_budgets(rt: Runtime, campaign_id: str, *, dry_run: bool) -> list[CampaignBudget]:
    """Per shop of the campaign that has a budget: what its rows would use, and how many would wait."""
    counted: dict[str, int] = {}
    budgets: dict[str, Budget | None] = {}
    job_ids = [str(j) for j in rt.redis.hkeys(keys.campaign_states(campaign_id))]
    for start in range(0, len(job_ids), CHUNK):
        pipe = rt.redis.pipeline(transaction=False)
        for job_id in job_ids[start:start + CHUNK]:
            pipe.hmget(keys.job(job_id), "job", "state", "steps")
        for job_text, state, steps in pipe.execute():
            job = json.loads(job_text or "{}")
            name = f"{job.get('platform')}/{job.get('shop')}"
            if name not in budgets:
                budgets[name] = _budget(rt, job)
            budget = budgets[name]
            if budget is not None and budget.counts(str(job.get("reason"))) and _uses(state, steps, dry_run):
                counted[name] = counted.get(name, 0) + 1
    now_ms = _server_ms(rt)
    views = []
    for name, budget in sorted(budgets.items()):
        if budget is None:
            continue
        used = usage(rt.redis, budget, now_ms)
        n = counted.get(name, 0)
        views.append(CampaignBudget(name, budget.max, budget.window_s, used.used, used.room, n, min(n, used.room),
                                    max(0, n - used.room)))
    return views


def _budget(rt: Runtime, job: dict[str, Any]) -> Budget | None:
    shop = rt.shops.get(str(job.get("platform")), str(job.get("shop")))
    return rt.budget_for(shop) if shop is not None else None


def _uses(state: str | None, steps: str | None, dry_run: bool) -> bool:
    if not dry_run:
        return state not in FINAL_STATES
    preview = json.loads(steps or "{}").get("preview", {}).get("data", {})
    return bool(preview.get("state") == "cancellable")


def _server_ms(rt: Runtime) -> int:
    seconds, micros = rt.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000
