"""The states a job moves through, defined once; the Lua scripts get them from here (``lua_preamble``)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    ALREADY_CANCELLED = "already_cancelled"
    DEAD = "dead"
    REJECTED = "rejected"
    ABORTED = "aborted"
    """Its campaign was aborted before the job's write was sent."""
    PREVIEWED = "previewed"
    """A dry run's outcome."""


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.ALREADY_CANCELLED, JobState.DEAD, JobState.REJECTED,
                          JobState.ABORTED, JobState.PREVIEWED})
STATES = tuple(JobState)


def lua_final_table() -> str:
    """``local FINAL = {succeeded = true, ...}``: the one spelling of the final states a script sees."""
    return "local FINAL = {" + ", ".join(f"{s.value} = true" for s in sorted(FINAL_STATES)) + "}\n"
