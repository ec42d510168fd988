"""``cancelq --version`` and ``cancelq_build_info`` tell the same version, the installed package's."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from cancelq.ops.metrics import FleetState, render_state


def test_the_version_is_printed_and_exported_as_build_info() -> None:
    version = metadata.version("cancelq")
    result = subprocess.run([sys.executable, "-m", "cancelq.cli.main", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(f"cancelq {version} (Python ")
    (info,) = [m for m in render_state(FleetState(redis_up=True)) if m.name == "cancelq_build_info"]
    (sample,) = info.samples
    assert sample.value == 1 and sample.labels["version"] == version and sample.labels["celery"]
