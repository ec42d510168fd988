"""Every command has help; flags are shown without a type after them, and help text is printed as written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from cancelq.cli.main import app

runner = CliRunner()


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_has_help_and_flags_show_no_type() -> None:
    tree = list(_commands(typer.main.get_command(app)))
    assert len(tree) > 60
    missing = [" ".join(path) for path, command in tree if not (command.help or "").strip()]
    assert missing == []
    for path, _ in tree:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, (path, shown.output)
        assert all(len(line) <= 80 for line in shown.output.splitlines()), (path, shown.output)


def test_help_text_is_printed_as_written() -> None:
    shown = runner.invoke(app, ["shops", "load", "--help"])
    assert "a TOML file of [[shops]] tables" in " ".join(shown.output.split())
    submit = runner.invoke(app, ["submit", "--help"]).output
    assert "--force " in submit and "--no-force" not in submit and "'out of stock' is OUT_OF_STOCK" in " ".join(
        submit.split())
