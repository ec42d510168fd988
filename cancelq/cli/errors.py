"""Expected failures of a command: one ``error: ...`` line on stderr (and a ``hint: ...``), a documented exit code.

Exit codes (docs/cli.md):

    0  done
    1  the work failed (a job not succeeded, dead rows, an unhealthy check) or nothing was found
    2  usage, settings or input refused (nothing was recorded)
    3  Redis (or the broker) cannot be reached
    4  timed out waiting (``--wait``)

Commands raise a ``CliError`` (or let a known exception through: it is translated here, once); ``CliGroup``
prints it and exits with its code. ``--debug`` lets every exception through with its traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from cancelq.campaigns.store import CampaignNotFound
from cancelq.client import AmbiguousJob, JobNotFound
from cancelq.core.settings import SettingsError

OK, FAILED, USAGE, UNREACHABLE, TIMED_OUT = 0, 1, 2, 3, 4


class CliError(Exception):
    """An expected failure: ``message`` (one line), an optional ``hint``, and the exit ``code``."""

    code = USAGE

    def __init__(self, message: str, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code


class Refused(CliError):
    """Bad usage or input; nothing was recorded."""


class NotFound(CliError):
    code = FAILED


class Failed(CliError):
    """The work was done and did not succeed."""

    code = FAILED


class Unreachable(CliError):
    code = UNREACHABLE


class TimedOut(CliError):
    code = TIMED_OUT


def shown_url(url: str | None) -> str:
    """``url`` without its password (or user name), for messages."""
    if not url:
        return "(none)"
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _redis_url() -> str | None:
    return os.environ.get("CANCELQ_REDIS_URL")


def _unreachable(exc: Exception) -> Unreachable:
    what = "Redis" if isinstance(exc, redis.RedisError) else "the broker"
    url = _redis_url() if what == "Redis" else os.environ.get("CANCELQ_BROKER_URL") or _redis_url()
    reason = str(exc).strip().rstrip(".") or type(exc).__name__
    return Unreachable(f"cannot reach {what} at {shown_url(url)}: {reason}",
                       hint="is it running? `cancelq valkey status` shows the embedded server; "
                            "CANCELQ_REDIS_URL names another")


def _file_problem(exc: OSError) -> Refused:
    name = exc.filename if exc.filename is not None else ""
    if isinstance(exc, FileNotFoundError):
        return Refused(f"no such file: {name}")
    return Refused(f"cannot read {name}: {exc.strerror or exc}")


def translate(exc: BaseException) -> CliError | None:
    """The ``CliError`` an expected exception means; None for anything else (a bug: its traceback is shown)."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, SettingsError):
        return Refused(str(exc))
    if isinstance(exc, AmbiguousJob):
        return Refused(str(exc), hint="give more characters of the id")
    if isinstance(exc, JobNotFound | CampaignNotFound):
        return NotFound(str(exc))
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError) or _is_broker_error(exc):
        return _unreachable(exc)  # type: ignore[arg-type]
    if isinstance(exc, TimeoutError):
        return TimedOut(str(exc) or "timed out")
    if isinstance(exc, OSError) and exc.filename is not None:
        return _file_problem(exc)
    return None


def _is_broker_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("kombu") and type(exc).__name__ == "OperationalError"


def _help_hint(exc: Exception) -> str | None:
    ctx = getattr(exc, "ctx", None)
    return f"{ctx.command_path} --help" if ctx is not None else None


def report(problem: CliError, console: Console) -> None:
    """The problem's ``error:`` line and its ``hint:``, each whole on one line whatever the width."""
    console.print(Text.assemble(("error:", "bold red"), " ", problem.message), soft_wrap=True, highlight=False)
    if problem.hint:
        console.print(Text.assemble(("hint:", "yellow"), " ", problem.hint), soft_wrap=True, highlight=False)


class Debug:
    """Whether ``--debug`` was given to this invocation (tracebacks instead of one line)."""

    on = False


class CliGroup(TyperGroup):
    """The ``cancelq`` group: every command runs inside ``invoke``, where expected failures become one line;
    ``main`` gives a usage error (an unknown option, a missing one) the same one line and a hint."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        def run() -> Any:
            return super(CliGroup, self).main(args, prog_name, complete_var, False, windows_expand_args, **extra)

        if not standalone_mode:
            return run()
        try:
            code = run()
        except typer.TyperException as exc:  # click's usage errors, vendored by Typer
            if type(exc).__name__ == "NoArgsIsHelpError":  # a group named alone: its help, as asked
                exc.show()  # type: ignore[attr-defined]
            else:
                report(Refused(exc.format_message(), hint=_help_hint(exc)), Console(stderr=True))
            sys.exit(getattr(exc, "exit_code", USAGE))
        except typer.Abort:
            Console(stderr=True).print("aborted", highlight=False)
            sys.exit(FAILED)
        sys.exit(code if isinstance(code, int) else OK)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            problem = translate(exc)
            if problem is None or Debug.on:
                raise
            report(problem, Console(stderr=True))
            ctx.exit(problem.code)


__all__ = ["FAILED", "OK", "TIMED_OUT", "UNREACHABLE", "USAGE", "CliError", "CliGroup", "Debug", "Failed",
           "NotFound", "Refused", "TimedOut", "Unreachable", "report", "shown_url", "translate"]
