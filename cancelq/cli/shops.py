"""``cancelq shops``: the shop registry (credentials never printed in full)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cancelq.cli.common import client, fail, out
from cancelq.shops.registry import ShopError

shops_app = typer.Typer(no_args_is_help=True, help="The shop registry (credentials never printed in full).")


@shops_app.command("add")
def shops_add(platform: str, name: str,
              credentials: Annotated[str, typer.Option(help="JSON object, or @file.json")],
              base_url: Annotated[str | None, typer.Option(help="override the platform host (a sandbox)")] = None,
              ) -> None:
    """Add or replace a shop."""
    text = Path(credentials[1:]).read_text() if credentials.startswith("@") else credentials
    try:
        shop = client().rt.shops.add(platform, name, json.loads(text), base_url)
    except (json.JSONDecodeError, ShopError) as exc:
        raise fail(str(exc), 2) from None
    out.print(f"shop {shop.platform}/{shop.name} saved")


@shops_app.command("load")
def shops_load(path: Path) -> None:
    """Load shops from a JSON list or a TOML file of [[shops]]."""
    try:
        shops = client().rt.shops.load_file(path)
    except (OSError, ValueError, ShopError) as exc:
        raise fail(str(exc), 2) from None
    out.print(f"{len(shops)} shops loaded")


@shops_app.command("set-limit")
def shops_set_limit(platform: str, name: str, rate_per_s: Annotated[float, typer.Option("--rate")],
                    burst: Annotated[int, typer.Option("--burst")] = 1) -> None:
    """Override one shop's rate limit (fleet-wide)."""
    registry = client().rt.shops
    shop = registry.get(platform, name)
    if shop is None:
        raise fail(f"no {platform} shop {name!r}")
    limits = {"rate_per_s": rate_per_s, "burst": burst, "per_api": platform == "lazada"}
    registry.add(platform, name, shop.credentials, shop.base_url, limits)
    out.print(f"shop {platform}/{name}: {rate_per_s:g}/s, burst {burst}")


@shops_app.command("set-token")
def shops_set_token(platform: str, name: str,
                    access_token: Annotated[str, typer.Option(help="the new access token")],
                    refresh_token: Annotated[str | None, typer.Option(help="the new refresh token")] = None,
                    expires_in: Annotated[float | None, typer.Option(help="seconds the access token lives")] = None,
                    ) -> None:
    """Set a shop's tokens after the seller authorised again: its parked jobs resume."""
    registry = client().rt.shops
    shop = registry.get(platform, name, fresh=True)
    if shop is None:
        raise fail(f"no {platform} shop {name!r}")
    credentials = {**shop.credentials, "access_token": access_token}
    if refresh_token:
        credentials["refresh_token"] = refresh_token
    registry.set_tokens(shop, credentials, time.time() + expires_in if expires_in else None)
    out.print(f"shop {platform}/{name}: new tokens saved" + (" (was waiting for re-auth)" if shop.needs_reauth else ""))


@shops_app.command("list")
def shops_list() -> None:
    table = Table("platform", "name", "base url", "credentials")
    for shop in client().rt.shops.all():
        m = shop.masked()
        table.add_row(shop.platform, shop.name, shop.base_url or "-", json.dumps(m["credentials"]))
    out.print(table)


@shops_app.command("show")
def shops_show(platform: str, name: str) -> None:
    shop = client().rt.shops.get(platform, name)
    if shop is None:
        raise fail(f"no {platform} shop {name!r}")
    out.print_json(data=shop.masked())


@shops_app.command("remove")
def shops_remove(platform: str, name: str) -> None:
    if not client().rt.shops.remove(platform, name):
        raise fail(f"no {platform} shop {name!r}")
    out.print(f"shop {platform}/{name} removed")
