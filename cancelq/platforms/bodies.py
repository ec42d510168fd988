"""Reading a platform's answer as JSON, within bounds of size and nesting.

``json.loads`` recurses once per level: a 50,000-deep answer raises
``RecursionError`` (and a merely very deep one parses, then breaks whatever
walks it next). Platform answers are a few levels deep, so anything nested
deeper than ``MAX_JSON_DEPTH`` is refused like any other unreadable body,
before it is parsed. The check costs two ``str.count`` calls on an ordinary
answer; only an answer with more brackets than the bound is scanned.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_BODY_BYTES = 4 * 1024 * 1024
"""The most of an answer that is read; a platform's order answers are a few kilobytes."""
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class UnreadableBody(ValueError):
    """The answer is not JSON we are willing to read; the message says why, without quoting it."""


def json_depth(text: str) -> int:
    """How deeply ``text``'s brackets nest, brackets inside strings left out."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def read_json(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``text`` parsed; ``UnreadableBody`` when it is not JSON or nests deeper than ``max_depth``."""
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise UnreadableBody(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableBody(exc.msg) from None
    except RecursionError:
        raise UnreadableBody(f"JSON nested deeper than {max_depth} levels") from None
