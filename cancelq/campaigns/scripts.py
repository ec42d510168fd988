"""The campaign store's Lua scripts, from ``lua/*.lua``; each starts with the final states as Python defines them.

``complete.lua`` (the end-of-round check) is defined once and put in front of the scripts that call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.commands.core import Script

from cancelq.campaigns.record import COUNTERS, TALLIES
from cancelq.core.lua import register
from cancelq.jobs import events
from cancelq.jobs.states import lua_final_table

PACKAGE = "cancelq.campaigns"


@dataclass(frozen=True)
class Scripts:
    account: Script
    """``account.lua``: record one intake batch and count its jobs."""
    move: Script
    """``move.lua``: count a job's move between states; the last job out completes the round."""
    intake_done: Script
    """``intake_done.lua``: the file is read; completes the round if every job is final already."""


def load(client: redis.Redis) -> Scripts:
    """The scripts registered on ``client`` (sent to the server on first use, then run by hash)."""
    final = lua_final_table()
    final += "local COUNTERS = {" + ", ".join(f"'{n}'" for n in (*COUNTERS, *TALLIES)) + "}\n"
    final += f"local EVENTS_VERSION = '{events.VERSION}'\n"
    return Scripts(
        account=register(client, PACKAGE, "account", preamble=final),
        move=register(client, PACKAGE, "complete", "move", preamble=final),
        intake_done=register(client, PACKAGE, "complete", "intake_done", preamble=final),
    )
