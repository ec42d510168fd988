"""The install and deploy recipes: nothing installs a package named cancelq from a public index, a stopping
worker gets longer than a task may run, and the deploy files point to docs that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from cancelq.core.settings import Settings
from tests.docs.markdown import ROOT, documents

DEPLOY = ROOT / "deploy"
BARE_NAME = re.compile(r"^cancelq(\[[^\]]*\])?\s*([<>=!~].*)?$", re.I)
"""A requirement naming the project without a path, wheel or URL: pip would take it from an index."""


def recipe_files() -> list[Path]:
    return [*documents(), *sorted(p for p in DEPLOY.rglob("*") if p.is_file()), ROOT / "dev.py"]


def pip_requirements(line: str) -> list[str]:
    """The requirements a `pip install` line names (options dropped)."""
    _, _, rest = line.partition("pip install")
    rest = re.split(r"&&|;|\s#", rest)[0]
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    return [w for w in words if not w.startswith("-")]


def test_no_recipe_installs_cancelq_by_name_from_an_index() -> None:
    named = [(path.name, req) for path in recipe_files() for line in path.read_text().splitlines()
             if "pip install" in line for req in pip_requirements(line) if BARE_NAME.match(req)]
    recipes = [line for path in recipe_files() for line in path.read_text().splitlines() if "pip install" in line]

    assert named == []
    assert any(".whl" in line for line in recipes) and any("git+" in line for line in recipes)


def test_the_check_would_catch_a_bare_name() -> None:
    assert [r for r in pip_requirements('/opt/venv/bin/pip install "cancelq[flower]" # x') if BARE_NAME.match(r)]
    assert not [r for r in pip_requirements("pip install ./dist/cancelq-0.1.0-py3-none-any.whl") if BARE_NAME.match(r)]
    assert not [r for r in pip_requirements('pip install "cancelq[flower] @ git+https://git.example/cancelq.git"')
                if BARE_NAME.match(r)]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|min)?", value.strip())
    assert match, value
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60}[match.group(2)]
    return int(match.group(1)) * scale


def test_a_stopping_worker_has_longer_than_a_task_may_run() -> None:
    limit = Settings.model_fields["task_time_limit_s"].default
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    unit = (DEPLOY / "systemd" / "cancelq-worker@.service").read_text()
    (timeout,) = re.findall(r"^TimeoutStopSec=(\S+)$", unit, re.M)

    graces = {name: _seconds(svc["stop_grace_period"]) for name, svc in compose["services"].items()
              if str(svc.get("image", "")).startswith("cancelq")}

    assert graces["worker"] > limit, graces
    assert _seconds(timeout) > limit


def test_the_deploy_files_point_to_docs_that_exist() -> None:
    named = {(path.name, ref) for path in DEPLOY.rglob("*") if path.is_file()
             for ref in re.findall(r"\b([\w/.-]*[A-Za-z_-]+\.md)\b", path.read_text())}

    assert named, "the deploy files say where their documentation is"
    assert sorted((name, ref) for name, ref in named if not (ROOT / ref).exists()) == []
