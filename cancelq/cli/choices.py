"""The fixed choices a command takes (platform, reason, dead-letter kind, outcome), checked before anything is
recorded or read: a typo is a refusal naming the choices, never a rejected job or an empty listing."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import UTC, datetime

from cancelq.cli.errors import Refused
from cancelq.jobs.deadletters import KINDS
from cancelq.jobs.states import STATES
from cancelq.platforms.reasons import Reason, parse_reason
from cancelq.platforms.registry import PLATFORM_NAMES

OUTCOMES: tuple[str, ...] = (*STATES, "invalid", "unknown")
"""A campaign row's outcome: its job's state, ``invalid`` (refused at intake) or ``unknown`` (record expired)."""


def _one_of(option: str, value: str, choices: Sequence[str]) -> str:
    wanted = value.strip().lower()
    if wanted in choices:
        return wanted
    near = difflib.get_close_matches(wanted, choices, n=1)
    hint = f"did you mean {near[0]}?" if near else None
    raise Refused(f"{option} {value!r} is not one of {', '.join(choices)}", hint=hint)


def platform(value: str | None, option: str = "--platform") -> str | None:
    return None if value is None else _one_of(option, value, PLATFORM_NAMES)


def kind(value: str | None) -> str | None:
    return None if value is None else _one_of("--kind", value, KINDS)


def outcome(value: str | None) -> str | None:
    return None if value is None else _one_of("--outcome", value, OUTCOMES)


def reason(value: str | None, option: str = "--reason") -> str | None:
    """The reason's one spelling (``out of stock`` -> ``OUT_OF_STOCK``)."""
    if value is None:
        return None
    try:
        return parse_reason(value).value
    except ValueError:
        names = [r.value for r in Reason]
        near = difflib.get_close_matches(value.strip().upper().replace(" ", "_").replace("-", "_"), names, n=1)
        raise Refused(f"{option} {value!r} is not one of {', '.join(names)}",
                      hint=f"did you mean {near[0]}?" if near else "case, spaces and dashes do not matter"
                      ) from None


def since_ms(value: str | None, option: str = "--since") -> int | None:
    """An ISO date or time as epoch ms: its offset is honoured (``Z``, ``+08:00``); without one it is UTC."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(f"{option} takes an ISO date or time, e.g. 2026-11-23T10:00 or 2026-11-23T18:00+08:00, "
                      f"not {value!r}") from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


__all__ = ["OUTCOMES", "kind", "outcome", "platform", "reason", "since_ms"]
