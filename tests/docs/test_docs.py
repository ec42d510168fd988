"""The docs say what the code does: every setting and metric is in them as the generator writes it, every
`cancelq ...` command they show exists with the options shown, and every relative link leads somewhere."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from types import ModuleType

import pytest
import typer
from typer.testing import CliRunner

from cancelq.cli.main import app
from cancelq.core.settings import Settings
from tests.docs.markdown import ROOT, Shown, anchors, commands_in, documents, links_in, resolve

PENDING: set[str] = set()
"""Docs the index links to that other branches write; they exist once those are merged."""


@cache
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_commands() -> list[Shown]:
    return [shown for doc in documents() for shown in commands_in(doc.read_text(), doc.name)]


def test_every_setting_has_a_description() -> None:
    assert gen().undescribed() == [], "add description= to these fields of cancelq/core/settings.Settings"


def test_the_generated_docs_are_what_the_generator_writes_now() -> None:
    stale = [str(path.relative_to(ROOT)) for path, text in gen().outputs().items()
             if not path.exists() or path.read_text() != text]

    assert not stale, f"{stale} stale: run python3 dev.py docs"


def test_every_setting_and_every_metric_is_in_the_docs() -> None:
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    operating = (ROOT / "docs" / "operating.md").read_text()

    assert [n for n in Settings.model_fields if f"| `{n}` | `CANCELQ_{n.upper()}` |" not in configuration] == []
    metrics = [name for name, *_ in (*gen().job_metrics(), *gen().state_metrics())]
    assert len(metrics) >= 20 and "cancelq_jobs_finished_total" in metrics
    assert [m for m in metrics if f"| `{m}` |" not in operating] == []


def test_every_metric_the_docs_name_is_one_cancelq_serves() -> None:
    """Prose and alert examples name metrics too: a renamed metric must be renamed there as well."""
    served = {name for name, *_ in (*gen().job_metrics(), *gen().state_metrics())}
    histograms = {name for name, kind, *_ in gen().job_metrics() if kind == "histogram"}
    served |= {f"{h}_{suffix}" for h in histograms for suffix in ("bucket", "sum", "count")}
    named = {(doc.name, m) for doc in documents() for m in re.findall(r"\bcancelq_[a-z_]+\b", doc.read_text())}

    assert sorted((where, m) for where, m in named if m not in served) == []


def test_every_command_shown_exists_with_the_options_shown() -> None:
    root = typer.main.get_command(app)
    shown = shown_commands()
    problems, paths = [], set()
    for item in shown:
        found, _, problem = resolve(root, item.words)
        if problem:
            problems.append(f"{item.where}: cancelq {' '.join(item.words)}: {problem}")
        paths.update(tuple(path) for path in found)
    runner = CliRunner()
    failed = {path: result.output for path in sorted(paths)
              if (result := runner.invoke(app, [*path, "--help"])).exit_code != 0}

    assert len(shown) >= 80 and len(paths) >= 40, (len(shown), len(paths))
    assert problems == []
    assert failed == {}


@pytest.mark.parametrize(("line", "problem"), [
    ("cancelq dlq replya 319acfbd", "no command 'replya' under cancelq dlq"),
    ("cancelq campaign pause|resme ID", "no command 'pause|resme' under cancelq campaign"),
    ("cancelq dlq list --platfrom lazada", "cancelq dlq list has no option --platfrom"),
])
def test_a_misspelt_command_or_option_would_be_caught(line: str, problem: str) -> None:
    (shown,) = commands_in(f"```bash\n{line}\n```\n", "sample")

    assert resolve(typer.main.get_command(app), shown.words)[2] == problem


def test_every_relative_link_leads_to_a_file_and_its_heading() -> None:
    broken = []
    for doc in documents():
        for target in links_in(doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path_part, _, anchor = target.partition("#")
            path = (doc.parent / path_part).resolve() if path_part else doc
            shown = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            if not path.exists():
                if shown not in PENDING:
                    broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text()):
                broken.append(f"{doc.name}: {target} (no such heading)")

    assert broken == []


def test_the_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    docs = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} | PENDING

    assert sorted(d for d in docs if f"]({d}" not in readme) == []


def test_every_dev_py_command_shown_is_one_dev_py_runs() -> None:
    runs = set(re.findall(r'command == "([a-z]+)"', (ROOT / "dev.py").read_text()))
    shown = {(doc.name, word) for doc in documents() for word in re.findall(r"python3 dev\.py ([a-z]+)", doc.read_text())}

    assert {"demo", "test", "lint", "docs"} <= runs
    assert sorted((where, word) for where, word in shown if word not in runs) == []


def test_the_two_commands_are_in_the_readme_as_ci_runs_them() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "python3 dev.py demo" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


def test_anchors_follow_githubs_rule() -> None:
    text = "# The HTTP API\n## Outcomes and what decides them (`cancelq/tasks/policy.py`)\n## Metrics\n## Metrics\n"

    assert anchors(text) == {"the-http-api", "outcomes-and-what-decides-them-cancelqtaskspolicypy", "metrics",
                             "metrics-1"}


def test_the_link_reader_finds_links_and_images_but_not_code() -> None:
    text = "See [ops](docs/operating.md#metrics) and ![shot](docs/a.png).\n```\n[x](nowhere.md)\n```\n`[y](z.md)`\n"

    assert links_in(text) == ["docs/operating.md#metrics", "docs/a.png"]

