"""Per-platform test kits: how to create a shop and orders in the sandbox and build an adapter for them.

Each platform module here defines ``KIT``; the contract suite (tests/platforms/test_contract.py)
runs the same behaviour over all four.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cancelq.platforms.errors import PlatformError


@dataclass(frozen=True)
class Kit:
    platform: str
    shop_ref: str
    shop_spec: Mapping[str, Any]
    """Passed to ``SandboxClient.add_shop(platform, **shop_spec)``."""
    credentials: Mapping[str, Any]
    """Passed to ``build_adapter(platform, credentials, base_url=sandbox_url)``."""
    secrets: tuple[str, ...]
    """Every secret in the credentials: none may appear in an error's text."""
    write_endpoint: str
    """The sandbox endpoint name of the cancel write (what faults target)."""
    error_faults: tuple[tuple[Mapping[str, Any], type[PlatformError]], ...]
    """(kwargs for ``sandbox.fault(platform, "error", endpoint=write_endpoint, **kwargs)``, expected class)."""
    is_cancelled: Callable[[Mapping[str, Any]], bool]
    """Reads a sandbox order view (``SandboxClient.order``) and says whether it is cancelled."""
    order_options: Mapping[str, Any] = field(default_factory=dict)
