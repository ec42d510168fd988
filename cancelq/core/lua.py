"""Lua scripts live in ``.lua`` files beside the store that runs them, loaded as package data.

A script may start with a preamble built in Python (``preamble``), so that names the Python code defines
once (the final states, hash field names) are handed to the script rather than retyped in it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script


@cache
def source(package: str, name: str) -> str:
    """The text of ``lua/NAME.lua`` in ``package`` (e.g. ``cancelq.gate``)."""
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, package: str, *names: str, preamble: str = "") -> Script:
    """One script made of the named files in order, after ``preamble``."""
    return client.register_script(preamble + "".join(source(package, n) for n in names))
