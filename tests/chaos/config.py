"""The chaos run's knobs: the workers' environment and the two forms of the run (full and the CI's short one)."""

from __future__ import annotations

from dataclasses import dataclass

from ..helpers import FAST_SETTINGS

WORKER_ENV = {
    **FAST_SETTINGS,
    # A lease above the longest step (1 s timeouts, a reconcile read, the limiter's short waits on a busy
    # 2-core box): FAST_SETTINGS' 3 s is for single-job tests, and a lease shorter than a step lets a
    # second runner in while the first still runs, which no real deployment is configured to allow.
    # Every platform call ends within half of it (the total deadline, 4 s): a trickled answer ends there; a
    # worker paused past it lets another delivery take the job over.
    "CANCELQ_LEASE_S": "8",
    "CANCELQ_TASK_TIME_LIMIT_S": "7",
    # The production retry budget (12 attempts), on a compressed clock, and circuits that half-open
    # quickly: a 30 s outage must park jobs behind the circuit, not exhaust them.
    "CANCELQ_MAX_ATTEMPTS": "12",
    "CANCELQ_RETRY_BASE_S": "0.1",
    "CANCELQ_RETRY_CAP_S": "2",
    "CANCELQ_CIRCUIT_OPEN_S": "2",
    "CANCELQ_CIRCUIT_MAX_OPEN_S": "8",
    "CANCELQ_LOG_LEVEL": "INFO",
    # A webhook endpoint on loopback hears every outcome: a delivery a restart or a kill cut short is claimed
    # again after 5 s, not the production minute.
    "CANCELQ_WEBHOOK_ALLOW_PRIVATE": "true",
    "CANCELQ_WEBHOOK_CLAIM_S": "5",
    "CANCELQ_WEBHOOK_POLL_S": "0.1",
    # Pushes (issue 17): a lost push is found by a reconciliation round every 2 s, reading jobs that wait at
    # least half a second; a push whose read failed is taken up again after 2 s.
    "CANCELQ_RECONCILE_INTERVAL_S": "2",
    "CANCELQ_RECONCILE_MIN_WAIT_S": "0.5",
    "CANCELQ_PUSH_RETRY_S": "2",
}
OUTAGE_CODES = {"shopee": "error_server", "lazada": "6"}


@dataclass(frozen=True)
class ChaosConfig:
    orders: int = 2400
    shops_per_platform: int = 2
    workers: int = 3
    concurrency: int = 8
    kills: int = 11
    pauses: int = 5
    """Workers SIGSTOPped with writes in flight, for the lease plus ``pause_beyond_lease_s``."""
    pause_beyond_lease_s: float = 3.0
    slow_write_ms: int = 800
    """How late every write is answered around a pause's stop: within the workers' 1 s read timeout."""
    redis_restarts: int = 1
    redis_down_s: float = 3.0
    outage_s: float = 30.0
    outage_platform: str = "shoplazza"
    submit_s: float = 100.0
    """The active window: orders arrive and the chaos happens over this many seconds, then the queue drains."""
    chunks: int = 20
    ships: int = 12
    bursts: int = 4
    burst_size: int = 12
    decoys: int = 3
    push_rounds: int = 8
    """Rounds of seller-center cancels with their pushes (duplicated, reordered, lost) and lying pushes."""
    """Orders per platform seeded but never submitted."""
    fault_scale: float = 1.0
    drain_timeout_s: float = 180.0
    seed: int = 7


FULL = ChaosConfig()
SHORT = ChaosConfig(orders=260, kills=3, pauses=2, redis_down_s=1.0, outage_s=5.0, submit_s=12.0, chunks=6, ships=4,
                    burst_size=6, decoys=2, push_rounds=2, drain_timeout_s=60.0)
"""The CI form. Its drain allows for the ledger's 30 s safety net: a message a killed worker had taken but not
begun is sent again only then."""
