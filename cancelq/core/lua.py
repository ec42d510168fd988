"""Lua scripts live in ``.lua`` files beside the store that runs them, loaded as package data.

A script may start with a preamble built in Python (``preamble``), so that names the Python code defines
once (the final states, hash field names) are handed to the script rather than retyped in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script


@cache
def source(package: str, name: str) -> str:
    """The text of ``lua/NAME.lua`` in ``package`` (e.g. ``cancelq.gate``)."""
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, package: str, *names: str, preamble: str = "") -> Script:
    """One script made of the named files in order, after ``preamble``."""
    return client.register_script(preamble + "".join(source(package, n) for n in names))


def queue_script(pipe: redis.client.Pipeline, script: Script, keys: Sequence[str], args: Sequence[Any]) -> None:
    """``script`` queued on ``pipe`` by its hash alone (a Script object would add a SCRIPT EXISTS round trip).

    Sent as a raw EVALSHA command: redis-py's cluster pipeline blocks its ``evalsha`` method (it cannot know
    that the keys share a slot), but routes the raw command by its keys, which here always share the hash tag."""
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
