"""A wrong setting is one line naming it (and the nearest known name), exit 2, no traceback, no value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cancelq.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


@pytest.mark.parametrize(("env", "said"), [
    ({"CANCELQ_MAX_ATTEMPTS": "lots"}, "max_attempts (CANCELQ_MAX_ATTEMPTS): Input should be a valid integer"),
    ({"CANCELQ_CONFIG": "/nonexistent/cancelq.toml"}, "CANCELQ_CONFIG names /nonexistent/cancelq.toml, which does not exist"),
])
def test_a_bad_setting_is_one_error_line(env: dict[str, str], said: str) -> None:
    result = _cli(env, "status")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and said in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "lots" not in result.stderr


def test_a_typo_in_the_settings_file_names_the_key_and_the_nearest_one(tmp_path: Path) -> None:
    config = tmp_path / "cancelq.toml"
    config.write_text('[cancelq]\nmax_attemps = 3\nencryption_kee = "s3cr3t-value"\n')
    result = _cli({"CANCELQ_CONFIG": str(config)}, "status")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "unknown setting 'max_attemps' (did you mean 'max_attempts'?)" in line
    assert "did you mean 'encryption_key'?" in line and "s3cr3t-value" not in line
    broken = tmp_path / "broken.toml"
    broken.write_text("[cancelq\nmax_attempts = 3\n")
    result = _cli({"CANCELQ_CONFIG": str(broken)}, "status")
    assert result.returncode == 2 and "cannot be read" in result.stderr and "Traceback" not in result.stderr
