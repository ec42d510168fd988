"""How commands show things: ISO 8601 UTC times, tables that fit 80 columns, short ids, whole JSON.

Tables abbreviate job ids to a prefix the commands accept, never fold a number or an id (they are ``no_wrap``),
wrap text at words and cut long messages with ``…`` at a word boundary; ``--json`` gives every value whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

SHORT_ID = 8
"""Job ids in tables: their first characters (at least this many, more when two shown ids share them)."""
_MS_MIN = 10**11
"""An integer time field at least this large is epoch milliseconds (1973 onwards)."""
_OFFSET = re.compile(r"\+00:00$")


def iso(ms: int | float | None, *, precise: bool = False) -> str:
    """Epoch milliseconds as ISO 8601 UTC with ``Z`` (seconds, or milliseconds when ``precise``); ``-`` for none."""
    if not ms:
        return "-"
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.isoformat(timespec="milliseconds" if precise else "seconds").replace("+00:00", "Z")


def _is_time_key(key: str) -> bool:
    return key == "at" or key.endswith(("_at", "_at_ms", "_until")) or key == "until"


def with_iso_times(value: Any) -> Any:
    """``value`` with every time field (``at``, ``*_at``, ``*_until``) as ISO 8601 UTC ``Z``, recursively."""
    if isinstance(value, dict):
        return {k: _time_value(v) if _is_time_key(str(k)) else with_iso_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [with_iso_times(v) for v in value]
    return value


def _time_value(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= _MS_MIN:
        return iso(value, precise=True)
    if isinstance(value, str):
        if value.isdigit() and int(value) >= _MS_MIN:
            return iso(int(value), precise=True)
        return _OFFSET.sub("Z", value)
    return with_iso_times(value)


def emit_json(data: Any) -> None:
    """One JSON document on stdout (times as ISO 8601 UTC), never cut or wrapped."""
    typer.echo(json.dumps(with_iso_times(data), indent=2, ensure_ascii=False, default=str))


def short_ids(ids: Iterable[str], minimum: int = SHORT_ID) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` characters) that no other of ``ids`` shares."""
    unique = sorted(set(ids))
    size = minimum
    while size < max((len(i) for i in unique), default=0):
        prefixes = [i[:size] for i in unique]
        if len(set(prefixes)) == len(prefixes):
            break
        size += 2
    return {i: i[:size] for i in unique}


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: cut at the last word boundary that fits, ending in ``…``."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    head = text[: width - 1]
    if " " in head and not text[width - 1].isspace():
        head = head[: head.rindex(" ")]
    return head.rstrip(" ,;:") + "…"


@dataclass(frozen=True)
class Col:
    """A table column: ``fixed`` ones (ids, numbers, times, words) are never wrapped or cut."""

    header: str
    fixed: bool = False
    right: bool = False
    ratio: int | None = None


def table(*cols: Col | str, title: str | None = None) -> Table:
    """A compact table (no vertical rules): fixed columns keep their width, text columns wrap at words."""
    columns = [_column(Col(c) if isinstance(c, str) else c) for c in cols]
    return Table(*columns, title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True,
                 show_edge=False)


def _column(col: Col) -> Column:
    if col.fixed:
        return Column(col.header, no_wrap=True, overflow="fold", justify="right" if col.right else "left",
                      min_width=len(col.header))
    return Column(col.header, overflow="fold", ratio=col.ratio)


def entry(head: Sequence[str], detail: str, indent: int = 2) -> Text:
    """One listed thing in two lines: its ``head`` words (id, kind, where, what) and an indented ``detail``;
    a line too long for the terminal breaks between words, so every id and number stays whole."""
    text = Text(" ".join(head), overflow="fold")
    text.append("\n" + " " * indent + detail)
    return text


def counts_line(counts: Sequence[tuple[str, int]]) -> str:
    return "  ".join(f"{name} {value:,}" for name, value in counts)


__all__ = ["Col", "counts_line", "cut", "emit_json", "entry", "iso", "short_ids", "table",
           "with_iso_times"]
