"""Deprecated alias of :mod:`cancelq.client`, kept importable for one release."""

from __future__ import annotations

from cancelq.client import *  # noqa: F403
from cancelq.client import __all__  # noqa: F401
