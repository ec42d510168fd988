"""What the docs checks read out of Markdown: the `cancelq ...` command lines shown, the relative links and
the headings' anchors (GitHub's rule)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(```|~~~)", re.M)
INLINE = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|\$ |dev\.py |[;&(] )cancelq ([a-z].*)$")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
ENDS = {"|", "||", ">", ">>", "&", "&&", ";", "2>&1", "...", "…"}


def documents() -> list[Path]:
    """README.md, CHANGELOG.md and every Markdown file in docs/."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def split_code(text: str) -> tuple[str, list[str]]:
    """(the prose with fenced blocks removed, the fenced blocks' lines)."""
    prose, code, inside = [], [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        (code if inside else prose).append(line)
    return "\n".join(prose), code


@dataclass(frozen=True)
class Shown:
    """One `cancelq ...` command line as a document shows it."""

    where: str
    words: tuple[str, ...]


def commands_in(text: str, where: str) -> list[Shown]:
    """Every cancelq command line in fenced blocks and in inline code."""
    prose, code = split_code(text)
    candidates = [line.strip() for line in code] + INLINE.findall(prose)
    found = []
    for candidate in candidates:
        match = COMMAND.search(candidate.split(" #", 1)[0].strip())
        if match:
            found.append(Shown(where, tuple(match.group(1).split())))
    return found


def resolve(root: Any, words: tuple[str, ...]) -> tuple[list[list[str]], list[str], str | None]:
    """(every command path the words name, the --options given, a problem or None).

    Words name subcommands while the current command is a group; ``a|b`` names alternatives at one place. The
    first word that is neither ends the path (an argument); in a group that is a misspelt command. ``root`` is
    the click command Typer builds (a group has ``commands``)."""
    paths: list[list[str]] = [[]]
    options: list[str] = []
    commands: list[Any] = [root]
    rest = list(words)
    while rest and hasattr(commands[0], "commands"):
        word = rest[0]
        if word.startswith("-") or word.strip("[]") != word or word in ENDS:
            break
        names = word.split("|")
        found = [commands[0].commands.get(name) for name in names]
        if any(command is None for command in found):
            return paths, options, f"no command {word!r} under {' '.join(['cancelq', *paths[0]])}"
        commands = [c for c in found if c is not None]
        paths = [[*paths[0], name] for name in names]
        rest.pop(0)
    for word in rest:
        if word in ENDS:
            break
        option = word.strip("[](),;").split("=", 1)[0]
        if option.startswith("--") and len(option) > 2:
            options.append(option)
    for command, path in zip(commands, paths, strict=True):
        if command.context_settings.get("ignore_unknown_options"):
            continue
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        unknown = [o for o in options if o not in known]
        if unknown:
            return paths, options, f"cancelq {' '.join(path)} has no option {', '.join(unknown)}"
    return paths, options, None


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a document's headings make (a repeated heading gets -1, -2, ...)."""
    prose, _ = split_code(text)
    seen: dict[str, int] = {}
    found = set()
    for line in prose.splitlines():
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links_in(text: str) -> list[str]:
    """Every link target in the prose (fenced blocks and inline code left out)."""
    prose, _ = split_code(text)
    return LINK.findall(INLINE.sub("", prose))
