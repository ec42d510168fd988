"""``cancelq apikeys``: the HTTP API's keys. A key is printed once, when made; only its hash is stored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cancelq.api.apikeys import SCOPES, ApiKeyError, ApiKeys
from cancelq.cli.common import client, fail, out, when
from cancelq.cli.render import emit_json

apikeys_app = typer.Typer(no_args_is_help=True, help="API keys for `cancelq api`: scopes, shops, revocation.")


def _store() -> ApiKeys:
    return ApiKeys(client().rt.redis)


def _split(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.split(",")) if part]


@apikeys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who uses it (recorded as the source of its jobs)")],
    scopes: Annotated[str, typer.Option(help=f"comma-separated: {','.join(SCOPES)}")] = "jobs:write,jobs:read",
    shops: Annotated[str, typer.Option(help="comma-separated PLATFORM/NAME or PLATFORM/* (default: every shop)")]
    = "",
) -> None:
    """Make a key; prints it once (keep it in the caller's secret store)."""
    try:
        key, token = _store().create(name, _split(scopes), _split(shops))
    except ApiKeyError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"API key [bold]{escape(key.name)}[/bold] ({key.id}) scopes={','.join(key.scopes)} "
              f"shops={','.join(key.shops) or '*'}", highlight=False)
    out.print(f"  key: {token}", highlight=False, soft_wrap=True)
    out.print("  (shown once: only its hash is stored)")


@apikeys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Live keys: name, id, scopes, shops, created (never a key)."""
    keys = _store().all()
    if as_json:
        emit_json([k.shown() for k in keys])
        return
    for k in keys:
        out.print(escape(f"{k.name}  {k.id}  scopes={','.join(k.scopes)}  shops={','.join(k.shops) or '*'}  "
                         f"created={when(k.created_at)}"), highlight=False, soft_wrap=True)
    if not keys:
        out.print("no API keys (make one: cancelq apikeys create NAME --scopes jobs:write,jobs:read)")


@apikeys_app.command("revoke")
def revoke(name: str) -> None:
    """Revoke the key of that name: refused from now on (within api_key_cache_s in running API processes)."""
    try:
        key = _store().revoke(name)
    except ApiKeyError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"{escape(key.name)} ({key.id}) revoked", highlight=False)
