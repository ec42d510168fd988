"""The optional WAIT after the writes that must survive a failover: a job's in-flight mark and its final write.

Redis replicates asynchronously: a primary that dies right after a write may take it along, and the replica
promoted in its place never saw it. With ``durable_replicas`` > 0, the write is followed on the same connection
(WAIT counts the writes of the connection that sends it, so both go in one pipeline) by ``WAIT replicas
timeout_ms``, which returns once that many replicas have the write, or at the timeout with how many do. Fewer
than asked is logged (``durable_wait_short``) and counted (``cancelq_durable_wait_short_total{write}``); the job
goes on: the write is on the primary, and only a failover before it reaches a replica could lose it (what that
costs, and how a job repairs it, is in docs/fleet.md). Off (0), no command is sent.

One gap: a final write that had to be sent again outside its pipeline, because the server had lost the script
(a restart flushes the script cache), is not followed by a WAIT of its own; the pipeline's WAIT ran before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.core import Script

from cancelq.core import counters
from cancelq.core.logging import get_logger
from cancelq.core.lua import queue_script


@dataclass(frozen=True)
class Durable:
    replicas: int = 0
    timeout_ms: int = 100

    @property
    def on(self) -> bool:
        return self.replicas > 0

    def queue(self, pipe: redis.client.Pipeline) -> bool:
        """WAIT queued at the end of ``pipe`` when on; True when queued (its answer is the pipeline's last)."""
        if self.on:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)  # type: ignore[no-untyped-call]
        return self.on

    def checked(self, acked: Any, write: str, **context: Any) -> None:
        """Log and count a WAIT that answered fewer replicas than asked (or failed); never raises."""
        if isinstance(acked, Exception):
            get_logger("cancelq.durability").warning("durable_wait_failed", write=write, replicas_wanted=self.replicas,
                                                     error=type(acked).__name__, **context)
            counters.durable_short(write)
            return
        if int(acked) < self.replicas:
            get_logger("cancelq.durability").warning("durable_wait_short", write=write, replicas=int(acked),
                                                     replicas_wanted=self.replicas, timeout_ms=self.timeout_ms,
                                                     **context)
            counters.durable_short(write)

    def run(self, client: redis.Redis, script: Script, keys: Sequence[str], args: Sequence[Any], write: str,
            **context: Any) -> Any:
        """``script`` and its WAIT in one pipeline (one connection); the script's answer. Loads the script once
        if the server lost it."""
        for _ in range(2):
            pipe = client.pipeline(transaction=False)
            queue_script(pipe, script, keys, args)
            self.queue(pipe)
            result, acked = pipe.execute(raise_on_error=False)
            if isinstance(result, redis.exceptions.NoScriptError):
                client.script_load(script.script)
                continue
            if isinstance(result, Exception):
                raise result
            self.checked(acked, write, **context)
            return result
        raise RuntimeError("the server lost the script again as soon as it was loaded")
