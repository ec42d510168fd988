"""``cancelq shops``: the shop registry (credentials never printed in full)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cancelq.cli import choices
from cancelq.cli.common import client, fail, out
from cancelq.cli.render import Col, emit_json, table
from cancelq.client import CancelQ
from cancelq.gate.budget import BudgetError, parse_window
from cancelq.guards import ScopeError
from cancelq.platforms.registry import BUYER_REQUEST_PLATFORMS
from cancelq.shops.registry import Shop, ShopError

shops_app = typer.Typer(no_args_is_help=True, help="The shop registry (credentials never printed in full).")


@shops_app.command("add")
def shops_add(platform: str, name: str,
              credentials: Annotated[str, typer.Option(help="JSON object, or @file.json")],
              base_url: Annotated[str | None, typer.Option(help="override the platform host (a sandbox)")] = None,
              verify: Annotated[bool, typer.Option(help="also make one cheap authenticated read")] = False,
              ) -> None:
    """Add or replace a shop: its credentials are checked first (fields, types, base URL); nothing is saved
    when they are wrong. A park of the shop (or of its app) is lifted."""
    try:
        text = Path(credentials[1:]).read_text() if credentials.startswith("@") else credentials
        cq = client(create=True)
        shop = cq.add_shop(platform, name, json.loads(text), base_url)
    except json.JSONDecodeError as exc:
        raise fail(f"--credentials is not a JSON object: {exc}", 2) from None
    except ShopError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"shop {shop.platform}/{shop.name} saved")
    if verify:
        verified = cq.verify_shop(shop)
        out.print(f"verify: {verified.message}")
        if not verified.ok:
            raise typer.Exit(1)


@shops_app.command("load")
def shops_load(path: Annotated[Path, typer.Argument(metavar="FILE", help="a .json or .toml file")]) -> None:
    """Load shops from a JSON list or a TOML file of [[shops]] tables."""
    try:
        shops = client(create=True).rt.shops.load_file(path)
    except (ValueError, ShopError) as exc:
        raise fail(str(exc), 2) from None
    out.print(f"{len(shops)} shops loaded")


@shops_app.command("set-limit")
def shops_set_limit(platform: str, name: str, rate_per_s: Annotated[float, typer.Option("--rate")],
                    burst: Annotated[int, typer.Option("--burst")] = 1) -> None:
    """Override one shop's rate limit (fleet-wide)."""
    cq = client()
    registry = cq.rt.shops
    shop = _shop(cq, platform, name)
    limits = {"rate_per_s": rate_per_s, "burst": burst, "per_api": platform == "lazada"}
    registry.set_limits(shop, limits)
    out.print(f"shop {platform}/{name}: {rate_per_s:g}/s, burst {burst}")


@shops_app.command("set-budget")
def shops_set_budget(target: Annotated[str, typer.Argument(help="the shop, as platform/name")],
                     max_cancels: Annotated[int | None, typer.Option("--max", help="cancels per window")] = None,
                     per: Annotated[str, typer.Option(help="the rolling window: 24h, 90m, 1d, seconds")] = "24h",
                     reasons: Annotated[str | None, typer.Option(help="reasons that count, comma-separated "
                                                                 "(default: all but CUSTOMER_REQUEST)")] = None,
                     clear: Annotated[bool, typer.Option("--clear", help="remove the shop's own budget")] = False,
                     ) -> None:
    """Cap a shop's seller-initiated cancels per rolling window; over it, writes wait (off unless set)."""
    if clear == (max_cancels is not None):
        raise fail("give --max N (and --per), or --clear", 2)
    try:
        budget = client().set_budget(target, max_cancels=max_cancels, per_s=parse_window(per),
                                     reasons=_reasons(reasons))
    except (ScopeError, BudgetError) as exc:
        raise fail(str(exc), 2) from None
    if budget is None:
        out.print(f"shop {target}: own budget removed")
    else:
        out.print(f"shop {target}: at most {budget.max} cancels per {budget.window_s:g}s")


@shops_app.command("set-policy")
def shops_set_policy(target: Annotated[str, typer.Argument(help="the shop, as platform/name")],
                     buyer_requests: Annotated[str, typer.Option("--buyer-requests",
                                                                 help="accept, notify or ignore")],
                     unless: Annotated[list[str] | None, typer.Option(help="accept except when the order is: "
                                                                      "shipped")] = None,
                     ) -> None:
    """What a buyer's request to cancel does (Shopee, Lazada): accept it (an accept job), only announce it
    (cancel.buyer_requested), or ignore it."""
    try:
        policy = client().set_buyer_policy(target, buyer_requests, unless or ())
    except (ScopeError, ShopError) as exc:
        raise fail(str(exc), 2) from None
    condition = f" unless {', '.join(policy.unless)}" if policy.unless else ""
    out.print(f"shop {target}: buyer cancel requests -> {policy.policy}{condition}")


def _reasons(text: str | None) -> list[str] | None:
    """Comma-separated reasons, each read loosely ('out of stock' is OUT_OF_STOCK)."""
    if not text:
        return None
    return [str(choices.reason(part, "--reasons")) for part in text.split(",") if part.strip()]


@shops_app.command("set-token")
def shops_set_token(platform: str, name: str,
                    access_token: Annotated[str, typer.Option(help="the new access token")],
                    refresh_token: Annotated[str | None, typer.Option(help="the new refresh token")] = None,
                    expires_in: Annotated[float | None, typer.Option(help="seconds the access token lives")] = None,
                    ) -> None:
    """Set a shop's tokens after the seller authorised again: its parked jobs resume."""
    cq = client()
    shop = _shop(cq, platform, name)
    credentials = {**shop.credentials, "access_token": access_token}
    if refresh_token:
        credentials["refresh_token"] = refresh_token
    cq.set_tokens(shop, credentials, time.time() + expires_in if expires_in else None)
    out.print(f"shop {platform}/{name}: new tokens saved" + (" (was waiting for re-auth)" if shop.needs_reauth else ""))


@shops_app.command("list")
def shops_list(as_json: Annotated[bool, typer.Option("--json", help="as JSON (credentials masked)")] = False) -> None:
    """Every shop in the registry: platform, name, base URL, buyer-request policy, credentials masked."""
    shops = client().rt.shops.all()
    if as_json:
        emit_json([shop.masked() for shop in shops])
        return
    grid = table(Col("platform", fixed=True), "name", "base url", "buyer requests", "credentials (masked)")
    for shop in shops:
        masked = " ".join(f"{k}={v}" for k, v in shop.masked()["credentials"].items())
        policy = shop.buyer_policy
        shown = policy.policy + (f" unless {','.join(policy.unless)}" if policy.unless else "")
        shown = shown if shop.platform in BUYER_REQUEST_PLATFORMS else "-"
        grid.add_row(shop.platform, escape(shop.name), escape(shop.base_url or "-"), escape(shown), escape(masked))
    out.print(grid)


@shops_app.command("show")
def shops_show(platform: str, name: str,
               as_json: Annotated[bool, typer.Option("--json", help="(always JSON; accepted like everywhere)")] = True,
               ) -> None:
    """One shop as JSON, its credentials masked."""
    del as_json
    emit_json(_shop(client(), platform, name).masked())


@shops_app.command("verify")
def shops_verify(platform: str, name: str) -> None:
    """One cheap authenticated read with the shop's stored credentials: what the platform says of them."""
    cq = client()
    verified = cq.verify_shop(_shop(cq, platform, name))
    out.print(f"verify {platform}/{name}: {verified.message}")
    if not verified.ok:
        raise typer.Exit(1)


@shops_app.command("remove")
def shops_remove(platform: str, name: str) -> None:
    """Remove a shop from the registry (its jobs already recorded stay in the ledger)."""
    cq = client()
    _shop(cq, platform, name)
    if not cq.rt.shops.remove(platform, name):
        raise fail(f"no {platform} shop {name!r}")
    out.print(f"shop {platform}/{name} removed")


def _shop(cq: CancelQ, platform: str, name: str) -> Shop:
    """The registry's shop, or a refusal naming the nearest shops (nothing is changed)."""
    try:
        cq.scopes("shop", f"{platform}/{name}")
    except ScopeError as exc:
        raise fail(str(exc), 2) from None
    shop = cq.rt.shops.get(platform, name, fresh=True)
    if shop is None:
        raise fail(f"no {platform} shop {name!r}")
    return shop
