"""The API's request and response bodies (pydantic; requests refuse unknown fields).

A cancellation's body is the job contract itself (``cancelq/schemas/job.schema.json``), checked by intake like
every other producer's job, so that an invalid one is recorded as rejected; the OpenAPI document shows that
schema (``JOB_SCHEMA_REF``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_SCHEMA_REF = "#/components/schemas/Job"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str = ""
    request_id: str = ""
    errors: list[str] | None = None
    job_id: str | None = None


class JobOut(BaseModel):
    """A job as the ledger holds it: state, attempts, steps (each with the platform's request id), last error,
    its events. ``repeat``: this answer is for a job submitted before (nothing new was sent)."""

    job_id: str
    state: str
    final: bool
    job: dict[str, Any]
    attempts: int = 0
    runs: int = 1
    steps: dict[str, Any] = Field(default_factory=dict)
    last_error: dict[str, Any] | None = None
    dead_kind: str = ""
    reject_reason: str = ""
    attribution: str = ""
    created_at: int = 0
    updated_at: int = 0
    finished_at: int | None = None
    due_at: int | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    location: str = ""


class JobList(BaseModel):
    jobs: list[JobOut]


class BatchIn(Strict):
    jobs: list[dict[str, Any]] = Field(min_length=1, description="job objects (the job contract), at most 1,000")


class BatchItem(BaseModel):
    """One item's result: ``status`` is what a single POST would have answered (202 new, 200 repeat, 422)."""

    index: int
    status: int
    job_id: str
    state: str
    repeat: bool = False
    errors: list[str] | None = None
    location: str = ""


class BatchOut(BaseModel):
    results: list[BatchItem]
    created: int
    repeated: int
    rejected: int


class EventOut(BaseModel):
    id: str
    type: str
    version: int
    occurred_at: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    next_after: str | None = Field(None, description="pass as ?after= to read on")


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=50)
    shops: list[str] = Field(default_factory=list, max_length=200)
    source: str = Field("", max_length=200)


class WebhookOut(BaseModel):
    """An endpoint (never its URL's path or query); ``secret`` only when it was just made or rotated."""

    id: str
    host: str
    events: list[str]
    shops: list[str]
    source: str
    campaign_id: str
    enabled: bool
    disabled_reason: str
    failing_since: int | None = None
    created_at: int
    rotating_until: int | None = None
    secret: str | None = None


class WebhookList(BaseModel):
    endpoints: list[WebhookOut]


class WebhookTestOut(BaseModel):
    """A signed ``webhook.test`` event sent now: the receiver's HTTP status (None: no answer, ``error`` says why)."""

    ok: bool
    status: int | None = None
    error: str = ""
    latency_ms: float


class WebhookReplayIn(Strict):
    """Exactly one of ``since_ms`` (every matching event since then) or ``event`` (one event's id)."""

    since_ms: int | None = Field(None, ge=0)
    event: str | None = Field(None, pattern=r"^[0-9]{1,15}-[0-9]{1,19}$")


class WebhookReplayOut(BaseModel):
    queued: int


class CampaignOut(BaseModel):
    campaign_id: str
    status: str
    dry_run: bool
    round: int
    source: str
    counts: dict[str, int]
    max_rate: float | None = None
    created_at: str
    intake_done_at: str
    finished_at: str
    elapsed_s: float
    rate_per_s: float
    location: str = ""
    report: str = ""


class CampaignStarted(CampaignOut):
    """What an upload did: rows read, sent, invalid (the first of them, with their line and reason)."""

    read: int
    sent: int
    invalid_count: int
    invalid: list[dict[str, Any]]
    refused: bool


class DeadLetterOut(BaseModel):
    job_id: str
    kind: str
    job: dict[str, Any]
    error: dict[str, Any] | None = None
    attempts: int = 0
    first_failure_at: int | None = None
    last_failure_at: int | None = None


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")


class ReplayFilterIn(Strict):
    platform: str | None = Field(None, max_length=50)
    shop: str | None = Field(None, max_length=200)
    code: str | None = Field(None, max_length=200)
    campaign: str | None = Field(None, max_length=100)
    kind: Literal["permanent", "exhausted", "poison"] | None = None
    since_ms: int | None = Field(None, ge=0)
    limit: int = Field(1000, ge=1, le=10_000, description="replay at most this many")


class ReplayOut(BaseModel):
    replayed: list[BatchItem]


class Health(BaseModel):
    ok: bool
    checks: dict[str, str] = Field(default_factory=dict)
