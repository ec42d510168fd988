"""cancelq's version, as installed (the package's metadata), for ``cancelq --version`` and ``cancelq_build_info``."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def build() -> dict[str, str]:
    """cancelq's version and the versions it runs on."""
    def of(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"version": of("cancelq"), "python": platform.python_version(), "celery": of("celery"),
            "redis": of("redis")}
