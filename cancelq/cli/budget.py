"""``cancelq budget``: a shop's cancellation budget as it stands, and an operator's approval past it.

``cancelq shops set-budget P/SHOP --max N --per 24h`` sets one; this group reads and approves.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cancelq.cli.common import client, fail, out
from cancelq.cli.render import emit_json
from cancelq.gate.budget import BudgetError
from cancelq.guards import ScopeError

budget_app = typer.Typer(no_args_is_help=True, help="Cancellation budgets: what is used, and approvals past them.")


@budget_app.command("show")
def budget_show(target: Annotated[str, typer.Argument(help="the shop, as platform/name")],
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Cancels in the window, approvals standing and room left."""
    try:
        found = client().budget_usage(target)
    except ScopeError as exc:
        raise fail(str(exc), 2) from None
    if found is None:
        raise fail(f"{target} has no cancellation budget (cancelq shops set-budget {target} --max N --per 24h)")
    data = {"shop": target, **found.budget.to_dict(), "used": found.used, "approved": found.approved,
            "room": found.room}
    if as_json:
        emit_json(data)
        return
    out.print(f"{target}: {found.used}/{found.budget.max} cancels in the last {found.budget.window_s:g}s, "
              f"{found.approved} approved past it, room for {found.room} (counted: "
              f"{', '.join(sorted(found.budget.reasons))})")


@budget_app.command("approve")
def budget_approve(target: Annotated[str, typer.Argument(help="the shop, as platform/name")],
                   extra: Annotated[int, typer.Option("--extra", help="cancels to let past the budget")]) -> None:
    """Let N more cancels of the shop pass its budget now (the jobs waiting on it go at their next look)."""
    try:
        standing = client().approve_budget(target, extra)
    except (ScopeError, BudgetError) as exc:
        raise fail(str(exc), 2) from None
    out.print(f"{target}: {standing} cancel(s) approved past the budget")
