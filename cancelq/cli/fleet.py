"""``cancelq pause``, ``resume`` and ``status``: the fleet-wide gate as operators work it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cancelq.cli.common import client, fail, out
from cancelq.gate.controls import ScopeError, scope_name, snapshot
from cancelq.gate.controls import pause as pause_scope
from cancelq.gate.controls import resume as resume_scope
from cancelq.gate.limits import Limit

ScopePlatform = Annotated[str | None, typer.Option("--platform", help="a whole platform")]
ScopeShop = Annotated[str | None, typer.Option("--shop", help="one shop, as platform/name")]
ScopeCampaign = Annotated[str | None, typer.Option("--campaign", help="one campaign")]
ScopeAll = Annotated[bool, typer.Option("--all", help="everything")]


def _scope(platform: str | None, shop: str | None, campaign: str | None, all_: bool) -> str:
    chosen = [(k, v) for k, v in (("platform", platform), ("shop", shop), ("campaign", campaign)) if v]
    if all_ == bool(chosen) or len(chosen) > 1:
        raise fail("name exactly one scope: --all, --platform P, --shop P/NAME or --campaign ID", 2)
    try:
        return scope_name("all") if all_ else scope_name(*chosen[0])
    except ScopeError as exc:
        raise fail(str(exc), 2) from None


def pause(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
          all_: ScopeAll = False, reason: str = "") -> None:
    """Stop write calls for a scope on every worker; its jobs wait and continue on resume."""
    scope = _scope(platform, shop, campaign, all_)
    pause_scope(client().rt.redis, scope, reason)
    out.print(f"paused {scope}")


def resume(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
           all_: ScopeAll = False) -> None:
    """Let a paused scope's jobs write again."""
    scope = _scope(platform, shop, campaign, all_)
    if not resume_scope(client().rt.redis, scope):
        raise fail(f"{scope} was not paused")
    out.print(f"resumed {scope}")


def _limit_view(limit: Limit) -> dict[str, Any]:
    view = {"rate_per_s": limit.rate_per_s, "burst": limit.burst, "per_api": limit.per_api}
    return {**view, "app": _limit_view(limit.app)} if limit.app is not None else view


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Limits in use, cooldowns, open circuits, pauses, and the ledger's queues."""
    cq = client()
    snap = snapshot(cq.rt.redis)
    counts = {**cq.rt.ledger.counts(), "dead_letters": cq.rt.dead_letters.size()}
    limits = {f"{s.platform}/{s.name}": _limit_view(cq.rt.limit_for(s)) for s in cq.rt.shops.all()}
    data = {"paused": snap.paused, "open_circuits": snap.open_circuits, "cooldowns_s": snap.cooldowns,
            "limits": limits, "ledger": counts}
    if as_json:
        out.print_json(data=data)
        return
    out.print(f"paused: {', '.join(snap.paused) or 'nothing'}")
    out.print(f"open circuits: {', '.join(snap.open_circuits) or 'none'}")
    out.print(f"cooldowns: {', '.join(f'{k} {v:.1f}s' for k, v in snap.cooldowns.items()) or 'none'}")
    table = Table("shop", "rate/s", "burst", "per API")
    for name, limit in limits.items():
        table.add_row(name, f"{limit['rate_per_s']:g}", str(limit["burst"]), "yes" if limit["per_api"] else "no")
    out.print(table)
    out.print(" ".join(f"{k}={v}" for k, v in counts.items()))
