"""``cancelq.api`` is a package now: it still gives the Python API, and importing it loads no web framework."""

from __future__ import annotations

import subprocess
import sys

import cancelq.api
import cancelq.client


def test_cancelq_api_still_gives_the_python_api() -> None:
    assert cancelq.api.__all__ == cancelq.client.__all__
    assert all(getattr(cancelq.api, name) is getattr(cancelq.client, name) for name in cancelq.client.__all__)


def test_importing_cancelq_api_or_the_key_store_loads_no_fastapi() -> None:
    probe = ("import sys, cancelq.api, cancelq.api.apikeys, cancelq.cli.main; "
             "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
