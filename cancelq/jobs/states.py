"""The states a job moves through, defined once; the Lua scripts get them from here (``lua_preamble``)."""

from __future__ import annotations

from enum import StrEnum

from cancelq.core import keys


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


def lua_preamble() -> str:
    """What every job script starts with: the job hash's field names (``F``), the states (``S``), ``FINAL``."""
    states = "local S = {" + ", ".join(f"{s.value} = '{s.value}'" for s in JobState) + "}\n"
    return keys.lua_job_fields() + states + lua_final_table()
