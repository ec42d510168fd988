"""``cancelq pause``, ``resume``, ``status`` and ``circuits close``: the fleet-wide gate as operators work it.

Every scope is checked before anything is written (``CancelQ.scopes``): an unknown platform, shop or campaign
is refused with the nearest known names, and nothing is paused.
"""

from __future__ import annotations

import getpass
import socket
from typing import Annotated, Any

import typer
from rich.markup import escape

from cancelq.cli.common import client, fail, out, when
from cancelq.cli.render import Col, emit_json, table
from cancelq.gate.controls import snapshot
from cancelq.gate.limits import Limit
from cancelq.guards import ScopeError
from cancelq.pushes.watch import Watch

ScopePlatform = Annotated[str | None, typer.Option("--platform", help="a whole platform")]
ScopeShop = Annotated[str | None, typer.Option("--shop", help="one shop as platform/name, or a pattern: 'shopee/*'")]
ScopeCampaign = Annotated[str | None, typer.Option("--campaign", help="one campaign")]
ScopeAll = Annotated[bool, typer.Option("--all", help="everything")]

circuits_app = typer.Typer(no_args_is_help=True, help="Circuit breakers: close one after a fix.")


def _scope(platform: str | None, shop: str | None, campaign: str | None, all_: bool) -> tuple[str, str | None]:
    chosen = [(k, v) for k, v in (("platform", platform), ("shop", shop), ("campaign", campaign)) if v]
    if all_ == bool(chosen) or len(chosen) > 1:
        raise fail("name exactly one scope: --all, --platform P, --shop P/NAME or --campaign ID", 2)
    return ("all", None) if all_ else chosen[0]


def _operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):  # no user name in a bare container
        return socket.gethostname()


def pause(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
          all_: ScopeAll = False, reason: str = "",
          by: Annotated[str | None, typer.Option(help="who pauses (default: user@host)")] = None) -> None:
    """Stop write calls for a scope on every worker; its jobs wait and continue on resume."""
    kind, value = _scope(platform, shop, campaign, all_)
    try:
        scopes = client().pause(kind, value, reason=reason, by=by or _operator())
    except ScopeError as exc:
        raise fail(f"{exc}; nothing was paused", 2) from None
    out.print(f"paused {', '.join(scopes)}")


def resume(platform: ScopePlatform = None, shop: ScopeShop = None, campaign: ScopeCampaign = None,
           all_: ScopeAll = False) -> None:
    """Let a paused scope's jobs write again; also lifts its shops' configuration-fault parks (a probe goes
    first)."""
    kind, value = _scope(platform, shop, campaign, all_)
    try:
        done = client().resume(kind, value)
    except ScopeError as exc:
        raise fail(f"{exc}; nothing was resumed", 2) from None
    if not done.scopes and not done.shops:
        raise fail(f"{value or kind} was not paused (nor parked)")
    for scope in done.scopes:
        out.print(f"resumed {scope}")
    for name in done.shops:
        out.print(f"lifted the park of shop {name}: its next job probes, the others follow when it succeeds")


@circuits_app.command("close")
def circuits_close(target: Annotated[str, typer.Argument(help="P (the platform's circuit) or P/SHOP")]) -> None:
    """Close a circuit after fixing what opened it."""
    platform, _, shop = target.partition("/")
    try:
        closed = client().close_circuit(platform, shop or None)
    except ScopeError as exc:
        raise fail(str(exc), 2) from None
    if not closed:
        raise fail(f"the circuit of {target} is not open")
    out.print(f"closed the circuit of {target}")


def _limit_view(limit: Limit) -> dict[str, Any]:
    view = {"rate_per_s": limit.rate_per_s, "burst": limit.burst, "per_api": limit.per_api}
    return {**view, "app": _limit_view(limit.app)} if limit.app is not None else view


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Pauses (why, who, when), parked shops, open circuits (next probe), cooldowns, limits and the queues."""
    cq = client()
    snap = snapshot(cq.rt.redis)
    counts = {**cq.rt.ledger.counts(), "dead_letters": cq.rt.dead_letters.size()}
    limits = {f"{s.platform}/{s.name}": _limit_view(cq.rt.limit_for(s)) for s in cq.rt.shops.all()}
    parked = {name: park.__dict__ for name, park in cq.rt.parking.parked().items()}
    watch = Watch(cq.rt.redis, verify_within_s=cq.rt.settings.verify_within_s)
    unconfirmed = watch.described(cq.rt.ledger)
    data = {"paused": snap.paused, "pauses": snap.pauses, "parked": parked, "open_circuits": snap.open_circuits,
            "circuits": snap.circuits, "cooldowns_s": snap.cooldowns, "limits": limits, "ledger": counts,
            "unconfirmed": unconfirmed, "pushes": watch.counts()}
    if as_json:
        emit_json(data)
        return
    _print_holds(snap.pauses, parked, snap.circuits)
    _print_unconfirmed(unconfirmed, watch)
    out.print(f"cooldowns: {', '.join(f'{k} {v:.1f}s' for k, v in snap.cooldowns.items()) or 'none'}")
    grid = table("shop", Col("rate/s", fixed=True), Col("burst", fixed=True), Col("per API", fixed=True))
    for name, limit in limits.items():
        grid.add_row(escape(name), f"{limit['rate_per_s']:g}", str(limit["burst"]), "yes" if limit["per_api"] else "no")
    out.print(grid)
    out.print(" ".join(f"{k}={v}" for k, v in counts.items()))


def _print_holds(pauses: dict[str, dict[str, Any]], parked: dict[str, dict[str, Any]],
                 circuits: dict[str, dict[str, Any]]) -> None:
    out.print(f"paused: {'' if pauses else 'nothing'}")
    for scope, info in pauses.items():
        what = "aborted" if info["abort"] else "paused"
        out.print(f"  {scope}: {what} {when(info['at'])} by {info['by'] or '?'}: {info['reason'] or '(no reason)'}")
    out.print(f"parked by a configuration fault: {'' if parked else 'none'}")
    for name, park in parked.items():
        out.print(f"  {name} ({park['scope']} scope) since {when(park['at_ms'])}: [{park['code']}] "
                  f"{park['message']}  -> fix it, then: cancelq resume --shop {name}")
    out.print(f"open circuits: {'' if circuits else 'none'}")
    for name, info in circuits.items():
        probe = f"probing (job {info['probe']})" if info["probe"] else (
            f"next probe in {info['probe_in_s']:.1f}s" if info["probe_in_s"] else "half-open: the next job probes")
        out.print(f"  {name}: {probe}  (cancelq circuits close {name.replace(':', '/')})")


def _print_unconfirmed(unconfirmed: list[dict[str, Any]], watch: Watch) -> None:
    counts = watch.counts()
    out.print(f"cancels not confirmed by the platform within {watch.verify_within_s:g}s: "
              f"{counts['unconfirmed'] or 'none'} (watching {counts['watched']})")
    for item in unconfirmed:
        out.print(f"  {item['platform']}/{item['shop']} order {item['order_id']}: job {item['job_id']}, "
                  f"announced {when(item['at_ms'])}  (cancelq job show {item['job_id']})")
