"""Intake: validate a job, check what only the registry knows, record it once.

Shared by the producers (Python API, CLI, campaigns) and by the task itself for
jobs that arrive straight from a foreign Celery client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cancelq.jobs.contract import InvalidJob, Job, parse_job, storable
from cancelq.jobs.ledger import Intake, Ledger
from cancelq.platforms.base import Action
from cancelq.platforms.reasons import UnmappableReason, shopee_reason
from cancelq.platforms.registry import BUYER_REQUEST_PLATFORMS


class ShopLookup(Protocol):
    def get(self, platform: str, name: str) -> object | None: ...


class Stores(Protocol):
    """What intake needs: the ledger, and the shop registry to check a job's shop (a ``Runtime`` has both)."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def shops(self) -> ShopLookup: ...


@dataclass(frozen=True)
class Admitted:
    job_id: str
    created: bool
    state: str
    job: Job | None = None
    reason: str = ""

    @property
    def rejected(self) -> bool:
        return self.state == "rejected"


def check_job(runtime: Stores, raw: Any, *, schema_checked: bool = False) -> Job:
    """A runnable job, or InvalidJob saying why not."""
    job = parse_job(raw, schema_checked=schema_checked)
    if runtime.shops.get(job.platform, job.shop) is None:
        raise InvalidJob(f"shop: no {job.platform} shop named {job.shop!r} in the registry (cancelq shops list)")
    if job.action is Action.ACCEPT_BUYER_CANCEL:
        _check_accept(job)
    if job.platform == "shopee":
        try:
            shopee_reason(job.reason)
        except UnmappableReason as exc:
            raise InvalidJob(f"reason: {exc}") from None
    return job


def _check_accept(job: Job) -> None:
    if job.platform not in BUYER_REQUEST_PLATFORMS:
        raise InvalidJob(f"action: {job.platform} has no buyer cancel requests to accept (only "
                         f"{' and '.join(BUYER_REQUEST_PLATFORMS)} do); send action cancel")
    if job.platform == "shopee" and job.items:
        raise InvalidJob("items: Shopee's buyer requests cover the whole order; leave items out")


def admit(runtime: Stores, raw: Any, *, force: bool = False, source: str = "api") -> Admitted:
    """Record the job (once per idempotency key), or record it rejected with why: a malformed job never raises."""
    try:
        job = check_job(runtime, raw)
    except InvalidJob as exc:
        job_id = runtime.ledger.reject(storable(raw), str(exc), source=storable(str(source)))
        return Admitted(job_id, created=True, state="rejected", reason=str(exc))
    result: Intake = runtime.ledger.intake(job, force=force)
    return Admitted(result.job_id, result.created, result.state, job=job)


def summary(job: Job) -> str:
    """How a job reads in Flower and logs: everything but credentials (jobs carry none)."""
    text = f"{job.platform}/{job.shop} order={job.order_id} reason={job.reason.value}"
    return text if job.action is Action.CANCEL else f"{text} action={job.action.value}"
