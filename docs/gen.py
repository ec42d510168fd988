"""Writes the generated parts of the docs from the code they describe:

- docs/configuration.md: every field of ``cancelq.core.settings.Settings`` (TOML key, environment variable,
  type, default, description);
- the two metrics tables in docs/operating.md (between the ``generated`` markers): what
  ``cancelq.core.counters`` registers and what ``cancelq.ops.metrics`` renders at scrape time (names, types,
  labels, help).

    python3 dev.py docs            # rewrite them
    python3 dev.py docs --check    # exit 1 when one is stale (tests/docs/test_docs.py checks the same)

A renamed setting or metric needs only a re-run. A setting without a ``description=`` stops the generator.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

DOCS = Path(__file__).resolve().parent
CONFIGURATION = DOCS / "configuration.md"
OPERATING = DOCS / "operating.md"
BEGIN = "<!-- generated: metrics (python3 dev.py docs); do not edit by hand -->"
END = "<!-- end of generated metrics -->"

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Redis, the broker and local data", ("redis_url", "broker_url", "data_dir", "queue")),
    ("Retries, waits and leases", ("retry_", "max_", "rate_limit_jitter", "default_rate_limit", "auth_wait",
                                   "config_recheck", "poison_", "lease_", "task_time", "visibility_", "pump_")),
    ("Limits, circuits, pauses, budgets and clocks", ("rate_limits", "cancel_budgets", "budget_", "short_wait",
                                                      "pause_", "circuit_", "clock_")),
    ("Shops and tokens", ("encryption_key", "refresh_")),
    ("Platform calls", ("http_",)),
    ("Events, records and dead letters", ("events_", "dlq_", "ledger_")),
    ("Logging", ("log_",)),
    ("Webhooks and Celery replies", ("webhook_",)),
    ("The HTTP API", ("api_",)),
    ("Metrics and health", ("metrics_", "health_")),
    ("Flower and the console", ("flower_", "console_")),
    ("Platform pushes", ("push_", "verify_within", "reconcile_")),
)
OTHER = "Other settings"

CONFIG_HEAD = """\
# Configuration reference

<!-- generated from cancelq.core.settings.Settings by docs/gen.py (python3 dev.py docs); do not edit by hand -->

Every setting is an environment variable `CANCELQ_<NAME>` or a key in a TOML file named by `CANCELQ_CONFIG`
(keys at the top level or under `[cancelq]`); the environment wins. Lists and mappings are JSON in the
environment (`CANCELQ_RATE_LIMITS='{"shoplazza": {"rate_per_s": 2, "burst": 40}}'`) and TOML values in the
file; `console_operators` is also read as a comma-separated list. Durations are seconds (`_s`), sizes bytes.

A wrong setting stops the command with one line that names it (`error: bad setting: max_attempts
(CANCELQ_MAX_ATTEMPTS): Input should be a valid integer`), a key the file does not know is refused with the
nearest known name (`unknown setting 'max_attemps' (did you mean 'max_attempts'?)`), and a `CANCELQ_CONFIG` that
names no file says so; no value is ever repeated (it may be a secret), and the exit code is 2.

[`deploy/cancelq.env.example`](../deploy/cancelq.env.example) is a settings file for a deployment, with what each
part needs. Settings marked *secret* are never printed or logged.
"""


def _settings_fields() -> Mapping[str, Any]:
    from cancelq.core.settings import Settings

    return Settings.model_fields


def undescribed() -> list[str]:
    """Settings without a description (the docs cannot say what they do)."""
    return [name for name, field in _settings_fields().items() if not (field.description or "").strip()]


def _section(name: str) -> str:
    return next((title for title, prefixes in SECTIONS if name.startswith(prefixes)), OTHER)


def _type(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    for module in ("typing.", "pathlib.", "pydantic.types."):
        text = text.replace(module, "")
    return text


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {'day' if unit == 'days' and count == 1 else unit}"
    return ""


def _plain(value: Any) -> Any:
    """Whole floats as integers, inside lists and mappings too (`[5, 300]`, not `[5.0, 300.0]`)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _default(name: str, field: Any) -> str:
    value = _plain(field.default_factory() if field.default_factory is not None else field.default)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float) and name.endswith("_s") and value >= 60:
        spoken = _duration(float(value))
        return f"`{value}` ({spoken})" if spoken else f"`{value}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value, separators=(',', ':'))}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def configuration() -> str:
    """The whole of docs/configuration.md."""
    missing = undescribed()
    if missing:
        raise SystemExit(f"settings without a description= in cancelq/core/settings.py: {', '.join(missing)}")
    grouped: dict[str, list[str]] = {}
    fields = _settings_fields()
    for name in fields:
        grouped.setdefault(_section(name), []).append(name)
    order = [title for title, _ in SECTIONS if title in grouped] + ([OTHER] if OTHER in grouped else [])
    lines = [CONFIG_HEAD, "| section | settings |", "| --- | --- |"]
    lines += [f"| [{title}](#{_slug(title)}) | {len(grouped[title])} |" for title in order]
    for title in order:
        lines += ["", f"## {title}", "", "| setting | environment | type | default | what it does |",
                  "| --- | --- | --- | --- | --- |"]
        for name in grouped[title]:
            field = fields[name]
            kind = _type(field.annotation)
            secret = " *(secret)*" if "SecretStr" in kind else ""
            lines.append(f"| `{name}` | `CANCELQ_{name.upper()}` | `{_cell(kind)}` | {_cell(_default(name, field))} "
                         f"| {_cell(field.description.strip())}{secret} |")
    return "\n".join(lines) + "\n"


def _slug(title: str) -> str:
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


class _EveryCount(dict[str, int]):
    """Counts that hold every name (0), so that rendering shows every count the collector knows."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> int:
        return 0


def job_metrics() -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    """(name as scraped, type, labels, help) of each metric ``cancelq.core.counters`` registers."""
    from prometheus_client.metrics import MetricWrapperBase

    from cancelq.core import counters

    for value in vars(counters).values():
        if isinstance(value, MetricWrapperBase):
            family = value.describe()[0]
            name = family.name + ("_total" if family.type == "counter" else "")
            yield name, family.type, tuple(value._labelnames), family.documentation


def state_metrics() -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    """(name, type, labels, help) of each metric ``cancelq.ops.metrics.render_state`` yields on a scrape."""
    from cancelq.ops import pushmetrics
    from cancelq.ops.metrics import FleetState, render_state

    controls = SimpleNamespace(open_circuits=["shopee"], paused=["all"], cooldowns={"shopee": 1.0})
    state = FleetState(redis_up=True, broker_up=True, counts=_EveryCount(), queue_depth=0, queue_consumers=0,
                       controls=controls)
    for family in (*render_state(state), *pushmetrics.render(pushmetrics.example())):
        labels = tuple(family.samples[0].labels) if family.samples else ()
        yield family.name + ("_total" if family.type == "counter" else ""), family.type, labels, family.documentation


def _metric_rows(rows: Iterable[tuple[str, str, tuple[str, ...], str]]) -> list[str]:
    out = ["| metric | type | labels | help |", "| --- | --- | --- | --- |"]
    for name, kind, labels, help_text in rows:
        shown = ", ".join(f"`{label}`" for label in labels)
        out.append(f"| `{name}` | {kind} | {shown} | {_cell(help_text)} |")
    return out


def metrics_block() -> str:
    """The generated part of docs/operating.md's metrics section, markers included."""
    lines = [BEGIN, "", "Counted in the worker that ran the job (sum the counters over workers):", ""]
    lines += _metric_rows(job_metrics())
    lines += ["| `process_*`, `python_gc_*` | | | the worker process (prometheus_client's default collectors) |"]
    lines += ["", "Read from Redis (and the broker) at scrape time, the same on every worker (aggregate with `max`):",
              ""]
    lines += _metric_rows(state_metrics())
    lines += ["", END]
    return "\n".join(lines)


def operating(current: str) -> str:
    """docs/operating.md with its generated block replaced."""
    head, begin, rest = current.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"{OPERATING} has no generated metrics block ({BEGIN} ... {END})")
    return head + metrics_block() + tail


def outputs() -> dict[Path, str]:
    """Each generated file and the text it should hold."""
    return {CONFIGURATION: configuration(), OPERATING: operating(OPERATING.read_text())}


def main(argv: list[str]) -> int:
    stale = [path for path, text in outputs().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(DOCS.parent)} is stale: run python3 dev.py docs", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
