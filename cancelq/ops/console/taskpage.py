"""What Flower's task page shows of a ``cancelq.cancel`` delivery: its dead letter (with Replay), or that it
crashed (a crash is not a dead letter: the job's lease runs out and the delayed set hands it on)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JOB_ARG = re.compile(r"job=([0-9A-Za-z_-]+)")


@dataclass(frozen=True)
class TaskLink:
    job_id: str
    dead: bool
    """True: a dead letter (``DeadLettered``); False: the task failed otherwise (a crash)."""
    stored: bool
    """The dead letter is still in the store (not yet replayed, purged or expired)."""
    refusal: str


def task_link(handler: Any, task: Any) -> TaskLink | None:
    """For a FAILURE of ``cancelq.cancel`` whose arguments name its job; None otherwise."""
    console = getattr(handler.application, "cancelq_console", None)
    if console is None or task.name != "cancelq.cancel" or task.state != "FAILURE":
        return None
    match = JOB_ARG.search(str(task.args or ""))
    if match is None:
        return None
    from cancelq.ops.console.base import operator_of

    job_id = match.group(1)
    dead = str(task.exception or "").startswith("DeadLettered")
    stored = dead and console.client.dead_letter(job_id) is not None
    return TaskLink(job_id, dead, stored, console.refusal(operator_of(handler)))
