"""Which pause scopes an operator's words stand for, checked against the names that exist.

A pause of a name nothing carries pauses nothing: ``pause --shop shopee-sg-main`` (the platform prefix left
out) once answered "paused" while that shop's jobs went on cancelling. So every scope is resolved before
anything is written: a known platform, a shop in the registry (``platform/name``, or a pattern such as
``shopee/*`` that matches at least one, expanded to the shops it matches, since the gate reads exact names),
a known campaign. Anything else is a ``ScopeError`` naming the nearest known names. Pure: the caller hands
in the names that exist.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence

from cancelq.gate.controls import SCOPE_KINDS, ScopeError

PATTERN_CHARS = frozenset("*?[")
SHOWN = 5


def resolve(kind: str, value: str | None, *, platforms: Sequence[str], shops: Sequence[str],
            campaigns: Sequence[str]) -> list[str]:
    """The exact scope names (``all``, ``platform:P``, ``shop:P/NAME``..., ``campaign:ID``) for ``kind`` and
    ``value``; raises ``ScopeError`` with the nearest known names when nothing known matches."""
    if kind not in SCOPE_KINDS:
        raise ScopeError(f"unknown scope {kind!r}; use one of {', '.join(SCOPE_KINDS)}")
    if kind == "all":
        return ["all"]
    if not value:
        raise ScopeError(f"a {kind} scope needs a value")
    if kind == "platform":
        return [f"platform:{_known(value, platforms, 'platform')}"]
    if kind == "campaign":
        return [f"campaign:{_known(value, campaigns, 'campaign')}"]
    return [f"shop:{name}" for name in shop_names(value, shops)]


def shop_names(value: str, shops: Sequence[str]) -> list[str]:
    """The registry's shops ``value`` names: itself, or every match of a pattern; ``ScopeError`` otherwise."""
    if PATTERN_CHARS & set(value):
        matched = [s for s in shops if fnmatch.fnmatchcase(s, value)]
        if not matched:
            raise ScopeError(f"no shop in the registry matches {value!r}{_hint(nearest_shops(value, shops))}")
        return matched
    if value in shops:
        return [value]
    raise ScopeError(f"no shop {value!r} in the registry (shops are named platform/name)"
                     f"{_hint(nearest_shops(value, shops))}")


def nearest_shops(value: str, shops: Sequence[str]) -> list[str]:
    """Shops whose name is ``value`` without its platform (the usual slip), then the closest spellings."""
    name = value.rsplit("/", 1)[-1].rstrip("*")
    same_name = [s for s in shops if s.split("/", 1)[-1] == name]
    if same_name:
        return same_name[:SHOWN]
    by_name = {s.split("/", 1)[-1]: s for s in shops}
    close = difflib.get_close_matches(value, shops, n=SHOWN, cutoff=0.6)
    close_names = [by_name[n] for n in difflib.get_close_matches(name, list(by_name), n=SHOWN, cutoff=0.6)]
    return list(dict.fromkeys([*same_name, *close, *close_names]))[:SHOWN]


def _known(value: str, names: Sequence[str], what: str) -> str:
    if value in names:
        return value
    close = difflib.get_close_matches(value, list(names), n=SHOWN, cutoff=0.6)
    listed = "" if close or len(names) > 10 else f" (known: {', '.join(names) or 'none'})"
    raise ScopeError(f"unknown {what} {value!r}{_hint(close)}{listed}")


def _hint(names: Sequence[str]) -> str:
    return f"; did you mean {' or '.join(names)}?" if names else ""


__all__ = ["ScopeError", "nearest_shops", "resolve", "shop_names"]
