"""The job contract: schema validation, normalisation and the idempotency key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from cancelq.platforms.base import CancelRequest
from cancelq.platforms.reasons import Reason

TASK_NAME = "cancelq.cancel"
SCHEMA_FILE = "job.schema.json"
DRY_RUN_PREFIX = "dry-run/"


class InvalidJob(ValueError):
    """A job that cannot be run as given; the message says what to fix."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("cancelq.schemas").joinpath(SCHEMA_FILE).read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


@dataclass(frozen=True)
class Job:
    platform: str
    shop: str
    order_id: str
    reason: Reason
    note: str
    items: tuple[dict[str, Any], ...]
    options: dict[str, Any]
    idempotency_key: str
    campaign_id: str | None
    source: str | None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "platform": self.platform, "shop": self.shop, "order_id": self.order_id, "reason": self.reason.value,
            "idempotency_key": self.idempotency_key,
        }
        optional = {"note": self.note, "items": list(self.items), "options": self.options,
                    "campaign_id": self.campaign_id, "source": self.source}
        data.update({k: v for k, v in optional.items() if v})
        if self.dry_run:
            data["dry_run"] = True
        return data

    def encoded(self) -> str:
        """The job as the ledger records it (and as cancelq's own messages carry it): compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def request(self) -> CancelRequest:
        return CancelRequest(order_id=self.order_id, reason=self.reason, note=self.note, items=self.items,
                             options=self.options)


def default_idempotency_key(platform: str, shop: str, order_id: str, items: list[dict[str, Any]]) -> str:
    key = f"{platform}/{shop}/{order_id}"
    if items:
        key += "/" + json.dumps(sorted(items, key=lambda i: json.dumps(i, sort_keys=True)), sort_keys=True,
                                separators=(",", ":"))
    return key


def parse_job(raw: Any, *, schema_checked: bool = False) -> Job:
    """Validate a job against the schema and normalise it; raises InvalidJob with every problem found.

    ``schema_checked``: the caller has already validated ``raw`` against the schema (campaign intake does,
    memoised by shape), so only the normalisation is left.
    """
    if not isinstance(raw, dict):
        raise InvalidJob(f"a job is a JSON object, got {type(raw).__name__}")
    errors = [] if schema_checked else sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidJob("; ".join(_describe(e) for e in errors[:5]))
    order_id = str(raw["order_id"]).strip()
    if not order_id:
        raise InvalidJob("order_id: must not be blank")
    items = [dict(i) for i in raw.get("items", [])]
    key = raw.get("idempotency_key") or default_idempotency_key(raw["platform"], raw["shop"], order_id, items)
    dry_run = bool(raw.get("dry_run"))
    if dry_run and not key.startswith(DRY_RUN_PREFIX):
        # A preview must never stand in for the real job (or another campaign's preview) under one key.
        key = f"{DRY_RUN_PREFIX}{raw.get('campaign_id') or '-'}/{key}"
    return Job(
        platform=raw["platform"], shop=raw["shop"], order_id=order_id, reason=Reason(raw["reason"]),
        note=raw.get("note", ""), items=tuple(items), options=dict(raw.get("options", {})),
        idempotency_key=key, campaign_id=raw.get("campaign_id"), source=raw.get("source"), dry_run=dry_run,
    )


def _describe(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "job"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"{path}: {message}"
