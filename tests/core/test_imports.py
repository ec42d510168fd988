"""Importing any module of cancelq does no I/O and starts nothing; the package has no import circle."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import cancelq

PROBE = """
import importlib, pkgutil, socket, subprocess, sys
import cancelq

def refuse(*args, **kwargs):
    raise AssertionError(f"I/O at import: {args[:2]}")

socket.socket.connect = refuse
socket.create_connection = refuse
subprocess.Popen.__init__ = refuse
names = [m.name for m in pkgutil.walk_packages(cancelq.__path__, "cancelq.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_importing_every_module_connects_to_nothing_and_starts_nothing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CANCELQ_DATA_DIR": str(tmp_path / "data"),
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = sum(1 for m in pkgutil.walk_packages(cancelq.__path__, "cancelq.") if not m.name.endswith("__main__"))
    assert int(result.stdout.split()[-1]) == expected > 80
    assert not (tmp_path / "data").exists(), "no embedded Valkey may start at import"
