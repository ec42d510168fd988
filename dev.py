#!/usr/bin/env python3
"""One entry point for a fresh clone: creates .venv, installs cancelq into it, then runs what you asked.

    python3 dev.py demo      # embedded Valkey + sandbox + worker + a few hundred orders, then a summary
    python3 dev.py test      # the test suite (extra arguments go to pytest)
    python3 dev.py lint      # ruff and mypy --strict
    python3 dev.py chaos     # the chaos run of issue 7 (--short: the CI form; --help for its knobs)
    python3 dev.py docs      # rewrite the generated docs (--check: exit 1 when they are stale)
    python3 dev.py cancelq … # any cancelq command inside the environment
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".cancelq-installed"


def _ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this runs on whatever python3 the user has)
        sys.exit(f"cancelq needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("installing cancelq and its dependencies into .venv ...", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[dev,flower]"], check=True)
        STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    _ensure_env()
    command, rest = argv[0], argv[1:]
    python = str(BIN / "python")
    if command == "demo":
        args = [python, "-m", "cancelq.cli.main", "demo", *rest]
    elif command == "test":
        args = [python, "-m", "pytest", *rest]
    elif command == "lint":
        ruff = subprocess.run([python, "-m", "ruff", "check", "cancelq", "tests", "bench", "docs", "dev.py"], cwd=ROOT)
        mypy = subprocess.run([python, "-m", "mypy"], cwd=ROOT)
        return ruff.returncode or mypy.returncode
    elif command == "chaos":
        args = [python, "-m", "tests.chaos.driver", *rest]
    elif command == "docs":
        args = [python, str(ROOT / "docs" / "gen.py"), *rest]
    elif command == "cancelq":
        args = [python, "-m", "cancelq.cli.main", *rest]
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
