"""Carry state an older cancelq kept elsewhere into today's keys, once, when a worker starts.

Before the gate read one hash (``keys.GATE``) and leases lived in the jobs, pauses had a hash of their own
and running jobs an index of leases. A pause left there would no longer hold anything, and a job whose only
timer was its lease entry would never be taken over if its holder died: both are moved. Old limits,
cooldowns and circuit states are not: they only start again from nothing (a platform's next slow-down
sets a cooldown again).
"""

from __future__ import annotations

import redis

from cancelq.core import keys
from cancelq.core.lua import source

OLD_PAUSES = f"{keys.PREFIX}:pauses"
OLD_LEASES = f"{keys.PREFIX}:leases"



def adopt_old_keys(client: redis.Redis) -> int:
    """Move old pauses into the gate hash and old leases onto the delayed set (the earlier timer wins);
    returns how many entries moved. Atomic, and a no-op once done."""
    if not client.exists(OLD_PAUSES, OLD_LEASES):
        return 0
    return int(client.eval(source("cancelq.worker", "adopt"), 4, OLD_PAUSES, keys.GATE, OLD_LEASES, keys.DELAYED))
