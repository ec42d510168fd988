"""deploy/ checked without a Docker engine: the files parse, every command they run exists and accepts its
arguments (each is run with --help through the installed entry point), every setting they name is a real one."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from cancelq.core.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CANCELQ = Path(sys.executable).parent / "cancelq"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SYSTEMD_SAMPLES = {"%i": "9808", "%H": "host1", "%h": "/var/lib/cancelq", "%%": "%"}
NOT_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR"}
"""Environment variables the deploy files may name that are not cancelq settings (and what reads them)."""


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _cancelq_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _compose()["services"].items() if svc.get("image", "").startswith("cancelq")}


def _setting(name: str) -> str | None:
    """The Settings field an environment variable sets, or None."""
    if not name.startswith("CANCELQ_"):
        return None
    field = name.removeprefix("CANCELQ_").lower()
    return field if field in Settings.model_fields else None


def _unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a systemd unit, in order; comments and blank lines dropped."""
    entries, section = [], ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _systemd_expand(text: str) -> str:
    return re.sub(r"%.", lambda m: SYSTEMD_SAMPLES[m.group(0)], text)


def _dockerfile() -> dict[str, list[str]]:
    """Instruction -> its JSON (exec-form) arguments, for the ones given in exec form."""
    found: dict[str, list[str]] = {}
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if rest.strip().startswith("["):
            found[instruction] = json.loads(rest)
    return found


def command_lines() -> dict[str, list[str]]:
    """Every `cancelq` command line the deploy files run, as argv after the program name."""
    lines: dict[str, list[str]] = {}
    for name, svc in _cancelq_services().items():
        lines[f"compose {name}"] = list(svc["command"])
        test = svc.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "cancelq"]:
            lines[f"compose {name} healthcheck"] = test[2:]
    docker = _dockerfile()
    assert docker["ENTRYPOINT"] == ["cancelq"]
    lines["Dockerfile CMD"] = docker["CMD"]
    for unit in UNITS:
        for _, key, value in _unit(unit):
            if key.startswith("Exec"):
                program, *args = shlex.split(_systemd_expand(value))
                assert program == "/opt/cancelq/venv/bin/cancelq", f"{unit.name} {key} runs {program}"
                lines[f"{unit.name} {key}"] = args
    return lines


def test_compose_file_has_redis_with_persistence_workers_flower_the_api_and_an_opt_in_sandbox() -> None:
    compose = _compose()
    services = compose["services"]

    assert set(services) == {"redis", "worker", "flower", "api", "sandbox"}
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "--maxmemory-policy noeviction" in redis_command
    assert services["redis"]["volumes"] == ["redis-data:/data"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["flower"]["ports"] == ["5555:5555"]
    assert any(v.endswith(":/var/lib/cancelq") for v in services["flower"]["volumes"])
    assert [n for n, s in services.items() if s.get("profiles")] == ["sandbox"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    named_volumes = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert named_volumes == set(compose["volumes"])
    for name, svc in _cancelq_services().items():
        assert svc["env_file"] == ["cancelq.env"], name
        assert svc["environment"]["CANCELQ_REDIS_URL"] == "redis://redis:6379/0", name
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert (DEPLOY / "cancelq.env.example").exists()


@pytest.mark.parametrize(("service", "path"), [("flower", "healthcheck"), ("api", "readyz")])
def test_python_healthchecks_are_valid_python_aimed_at_the_services_port(service: str, path: str) -> None:
    svc = _compose()["services"][service]
    test = svc["healthcheck"]["test"]

    assert test[:3] == ["CMD", "python", "-c"]
    ast.parse(test[3])
    port = svc["command"][svc["command"].index("--port") + 1]
    assert f"127.0.0.1:{port}/{path}" in test[3] and svc["ports"] == [f"{port}:{port}"]


def test_every_command_line_is_a_real_cancelq_command_with_real_options() -> None:
    lines = command_lines()
    assert {"compose worker", "compose flower", "compose api", "compose sandbox", "compose worker healthcheck",
            "Dockerfile CMD", "cancelq-worker@.service ExecStart", "cancelq-flower.service ExecStart",
            "cancelq-api.service ExecStart"} <= set(lines)

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CANCELQ), *argv, "--help"], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(lines, pool.map(run, lines.values()), strict=True))

    failed = {where: r.stdout + r.stderr for where, r in results.items() if r.returncode != 0}
    assert not failed, failed
    for where, argv in lines.items():
        assert f"Usage: cancelq {argv[0]}" in results[where].stdout, where


def test_a_misspelt_option_would_be_caught() -> None:
    result = subprocess.run([str(CANCELQ), "worker", "--concurency", "4", "--help"], capture_output=True,
                            text=True, timeout=60)

    assert result.returncode != 0 and "No such option" in result.stdout + result.stderr


def test_every_environment_variable_named_is_a_setting() -> None:
    named: dict[str, str] = {}
    for line in (DEPLOY / "cancelq.env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            named[match.group(1)] = "cancelq.env.example"
    for name, svc in _cancelq_services().items():
        named.update({var: f"compose {name}" for var in svc.get("environment", {})})
    text = (DEPLOY / "Dockerfile").read_text()
    named.update({var: "Dockerfile" for var in re.findall(r"\b(CANCELQ_[A-Z0-9_]+)=", text)})
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            match = re.match(r"^#?Environment=([A-Z][A-Z0-9_]*)=", line)
            if match:
                named[match.group(1)] = unit.name

    unknown = {var: where for var, where in named.items() if var not in NOT_SETTINGS and _setting(var) is None}
    assert not unknown, unknown
    assert len(named) >= 20


def test_the_env_example_gives_what_each_service_needs_and_parses_as_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    values = dict(re.findall(r"^(CANCELQ_[A-Z0-9_]+)=(.*)$", (DEPLOY / "cancelq.env.example").read_text(), re.M))
    assert {"CANCELQ_REDIS_URL", "CANCELQ_FLOWER_BASIC_AUTH", "CANCELQ_LOG_FORMAT", "CANCELQ_DATA_DIR",
            "CANCELQ_METRICS_HOST", "CANCELQ_HEALTH_MAX_DEAD_LETTERS", "CANCELQ_API_PORT",
            "CANCELQ_API_KEY_RATE_PER_S"} <= set(values)
    assert "CANCELQ_METRICS_PORT" not in values, "systemd sets it per instance; the env file would override it"
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.flower_basic_auth is not None and settings.flower_basic_auth.get_secret_value() == "ops:change-me"
    assert settings.metrics_state is True and settings.health_max_dead_letters == 1000
    assert str(settings.flower_db) == "/var/lib/cancelq/flower.db"
    assert settings.api_port == 8080 and settings.api_require_idempotency_key is False


def test_the_units_have_what_a_service_needs() -> None:
    for unit in UNITS:
        keys = {(section, key) for section, key, _ in _unit(unit)}
        assert {("Service", "ExecStart"), ("Service", "EnvironmentFile"), ("Service", "User"),
                ("Service", "Restart"), ("Install", "WantedBy")} <= keys, unit.name
        assert ("Service", "EnvironmentFile", "/etc/cancelq/cancelq.env") in _unit(unit)
    worker = dict((k, v) for _, k, v in _unit(DEPLOY / "systemd" / "cancelq-worker@.service"))
    assert worker["Environment"] == "CANCELQ_METRICS_PORT=%i" and "--hostname cancelq-%i@%H" in worker["ExecStart"]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        # No systemd here: check instead that every line is a comment, a known section or Key=Value.
        for unit in UNITS:
            for line in unit.read_text().splitlines():
                line = line.strip()
                assert (not line or line.startswith("#") or line in ("[Unit]", "[Service]", "[Install]")
                        or ("=" in line and line.split("=", 1)[0].isidentifier())), f"{unit.name}: {line!r}"
        return
    for unit in UNITS:
        text = unit.read_text().replace("/opt/cancelq/venv/bin/cancelq", str(CANCELQ)).replace(
            "/etc/cancelq/cancelq.env", str(DEPLOY / "cancelq.env.example"))
        (tmp_path / unit.name.replace("@.service", "@9808.service")).write_text(text)

    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(p.name for p in tmp_path.iterdir())],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
