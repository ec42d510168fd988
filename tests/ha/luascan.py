"""A static check of cancelq's Lua: every key a script touches comes in KEYS, none is built from ARGV.

Rules (each names the line it failed on):
- no string concatenation with an ``ARGV`` element (``ARGV[2] .. id``, ``'x:' .. ARGV[1]``);
- no name ``prefix`` (the old scripts took key prefixes in ARGV);
- the key argument of every ``redis.call``/``redis.pcall`` is ``KEYS[...]`` or a name, never ``ARGV[...]`` nor an
  expression; and a name used so is never assigned an expression holding ``..`` or ``ARGV``.
A name passed in as a function's parameter is trusted: its callers' arguments fall under the first rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KEYLESS = {"TIME", "PING", "ECHO"}
CONCAT_ARGV = re.compile(r"ARGV\[[^\]]*\]\s*\.\.|\.\.\s*ARGV\[")
PREFIX_NAME = re.compile(r"\bprefix\b", re.IGNORECASE)
CALL = re.compile(r"redis\.p?call\(\s*'([A-Za-z]+)'\s*(?:,\s*)?")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.text.strip()}"


def _code(line: str) -> str:
    """The line without its comment (no script puts ``--`` inside a string)."""
    return line.split("--", 1)[0]


def _first_argument(text: str) -> str:
    """The text of a call's next argument: up to the first comma or closing parenthesis at depth 0."""
    depth, out = 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            break
        out.append(char)
    return "".join(out).strip()


def _assigned(lines: list[str], name: str) -> list[tuple[int, str]]:
    """(line, right-hand side) of every assignment whose left-hand side names ``name``."""
    found = []
    for number, line in enumerate(lines, 1):
        code = _code(line)
        left, eq, right = code.partition("=")
        if not eq or right.startswith("=") or left.rstrip().endswith(("~", "<", ">", "=")):
            continue
        targets = left.replace("local ", " ").split(",")
        if any(re.match(rf"^\s*{name}\s*$", t) for t in targets):
            found.append((number, right))
    return found


def scan(source: str, path: str = "<lua>") -> list[Finding]:
    lines = source.splitlines()
    findings: list[Finding] = []
    for number, line in enumerate(lines, 1):
        code = _code(line)
        if CONCAT_ARGV.search(code):
            findings.append(Finding(path, number, "a string built from ARGV", line))
        if PREFIX_NAME.search(code):
            findings.append(Finding(path, number, "a key prefix", line))
        for call in CALL.finditer(code):
            if call.group(1).upper() in KEYLESS:
                continue
            key = _first_argument(code[call.end():])
            findings += _check_key(lines, path, number, line, key)
    return findings


def _check_key(lines: list[str], path: str, number: int, line: str, key: str) -> list[Finding]:
    if key.startswith("KEYS["):
        return []
    if not NAME.match(key):
        return [Finding(path, number, f"a key that is not KEYS[...] nor a name ({key})", line)]
    return [Finding(path, at, f"key {key} assigned from ARGV or a concatenation", lines[at - 1])
            for at, right in _assigned(lines, key) if ".." in right or "ARGV" in right]


def scan_tree(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for path in sorted(root.rglob("lua/*.lua")):
        findings += scan(path.read_text(encoding="utf-8"), str(path.relative_to(root.parent)))
    return findings
