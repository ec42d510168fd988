"""The job contract: schema validation, normalisation and the idempotency key.

Before the schema sees a job, ``check_limits`` bounds it: depth, size, text that is valid Unicode, integers
and numbers JSON can carry. The schema library, ``json`` and Redis's encoder all fail with an exception
(``RecursionError``, ``UnicodeEncodeError``, ``ValueError``) on such input instead of saying what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator

from cancelq.platforms.base import Action, CancelRequest
from cancelq.platforms.reasons import Reason, parse_reason

TASK_NAME = "cancelq.cancel"
SCHEMA_FILE = "job.schema.json"
DRY_RUN_PREFIX = "dry-run/"
ACCEPT_PREFIX = "accept/"
"""The idempotency namespace of accept jobs: accepting a buyer's request and cancelling one order are two jobs."""
MAX_JOB_DEPTH = 32
"""Objects and arrays nested in a job, the job itself counted: a real job is 3 deep (job, items, an item)."""
MAX_JOB_BYTES = 64 * 1024
"""A job's size as compact JSON in UTF-8 (escapes not counted); a real job is well under 2 KB."""
MAX_INT_BITS = 64
"""Integers beyond 64 bits are no platform's ids (and Python refuses to print ones past 4,300 digits)."""
STORED_TEXT_CHARS = 500
STORED_NODES = 500
"""A rejected job's copy in the ledger keeps at most this many values, each string at most STORED_TEXT_CHARS."""

_SURROGATE = re.compile("[\ud800-\udfff]")


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
    client_ref: str | None = None
    """The producer's own reference, echoed in every event of the job."""
    reply: dict[str, str] | None = None
    """A Celery task (and queue) to send the outcome event to."""
    action: Action = Action.CANCEL
    """``accept_buyer_cancel``: accept the buyer's pending request to cancel, instead of cancelling."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "platform": self.platform, "shop": self.shop, "order_id": self.order_id, "reason": self.reason.value,
            "idempotency_key": self.idempotency_key,
        }
        optional = {"note": self.note, "items": list(self.items), "options": self.options,
                    "campaign_id": self.campaign_id, "source": self.source, "client_ref": self.client_ref,
                    "reply": self.reply}
        data.update({k: v for k, v in optional.items() if v})
        if self.dry_run:
            data["dry_run"] = True
        if self.action is not Action.CANCEL:
            data["action"] = self.action.value
        return data

    def encoded(self) -> str:
        """The job as the ledger records it (and as cancelq's own messages carry it): compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def request(self) -> CancelRequest:
        return CancelRequest(order_id=self.order_id, reason=self.reason, note=self.note, items=self.items,
                             options=self.options, action=self.action)


def default_idempotency_key(platform: str, shop: str, order_id: str, items: list[dict[str, Any]],
                            action: Action = Action.CANCEL) -> str:
    key = f"{ACCEPT_PREFIX if action is Action.ACCEPT_BUYER_CANCEL else ''}{platform}/{shop}/{order_id}"
    if items:
        key += "/" + json.dumps(sorted(items, key=lambda i: json.dumps(i, sort_keys=True)), sort_keys=True,
                                separators=(",", ":"))
    return key


_REASONS = frozenset(r.value for r in Reason)


def _loose_reason(raw: dict[str, Any]) -> dict[str, Any]:
    """The job with its reason read loosely (``out of stock`` is ``OUT_OF_STOCK``), whoever sent it; a reason
    that names none is left for the schema to refuse with the choices."""
    reason = raw.get("reason")
    if not isinstance(reason, str) or reason in _REASONS:
        return raw
    try:
        return {**raw, "reason": parse_reason(reason).value}
    except ValueError:
        return raw


def parse_job(raw: Any, *, schema_checked: bool = False, recorded: bool = False) -> Job:
    """Validate a job against the schema and normalise it; raises InvalidJob with every problem found.

    ``schema_checked``: the caller has already validated ``raw`` against the schema (campaign intake does,
    memoised by shape), so only the limits and the normalisation are left. ``recorded``: the job is the
    ledger's record (or a message's copy the gate compares with it), checked whole at intake: only the
    normalisation is left.
    """
    if not isinstance(raw, dict):
        raise InvalidJob(f"a job is a JSON object, got {type(raw).__name__}")
    if not recorded:
        check_limits(raw)
        raw = _loose_reason(raw)
    errors = [] if schema_checked else sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidJob("; ".join(_describe(e) for e in errors[:5]))
    order_id = str(raw["order_id"]).strip()
    if not order_id:
        raise InvalidJob("order_id: must not be blank")
    items = [dict(i) for i in raw.get("items", [])]
    action = _action(raw.get("action"))
    key = raw.get("idempotency_key") or default_idempotency_key(raw["platform"], raw["shop"], order_id, items, action)
    dry_run = bool(raw.get("dry_run"))
    if dry_run and not key.startswith(DRY_RUN_PREFIX):
        # A preview must never stand in for the real job (or another campaign's preview) under one key.
        key = f"{DRY_RUN_PREFIX}{raw.get('campaign_id') or '-'}/{key}"
    return Job(
        platform=raw["platform"], shop=raw["shop"], order_id=order_id, reason=Reason(raw["reason"]),
        note=raw.get("note", ""), items=tuple(items), options=dict(raw.get("options", {})),
        idempotency_key=key, campaign_id=raw.get("campaign_id"), source=raw.get("source"), dry_run=dry_run,
        client_ref=raw.get("client_ref"), reply=dict(raw["reply"]) if raw.get("reply") else None, action=action,
    )


def _action(value: Any) -> Action:
    try:
        return Action(value or Action.CANCEL)
    except ValueError:
        raise InvalidJob(f"action: {value!r} is not one of {', '.join(a.value for a in Action)}") from None


def _describe(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "job"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"{path}: {message}"


def check_limits(raw: Any) -> None:
    """InvalidJob unless ``raw`` is data a job can be: at most MAX_JOB_DEPTH deep and MAX_JOB_BYTES as JSON,
    JSON types only, text without lone surrogates, integers of at most MAX_INT_BITS, finite numbers.

    The walk is bounded whatever the input: it goes at most MAX_JOB_DEPTH calls deep, stops at the first
    problem, and leaves an object or array as soon as its size passes MAX_JOB_BYTES."""
    try:
        size = _size(raw, 1)
    except _OverLimit as exc:
        raise InvalidJob(f"{_where(exc.path)}: {exc}") from None
    if size > MAX_JOB_BYTES:
        raise InvalidJob(f"job: larger than {MAX_JOB_BYTES} bytes as JSON (a job is at most "
                         f"{MAX_JOB_BYTES // 1024} KB)")


class _OverLimit(Exception):
    """A problem found ``path`` deep (each container on the way out puts its key in front)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[Any] = []


def _size(value: Any, depth: int) -> int:
    """About the value's length as compact JSON (escapes aside), or _OverLimit; at most a little past the limit."""
    if isinstance(value, str):
        return _text_size(value)
    if isinstance(value, dict | list | tuple):
        if depth > MAX_JOB_DEPTH:
            raise _OverLimit(f"nested deeper than {MAX_JOB_DEPTH} levels (a job is at most {MAX_JOB_DEPTH} objects "
                             "and arrays deep)")
        return _container_size(value, depth)
    return _scalar_size(value)


def _container_size(value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> int:
    total = 2
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in pairs:
        if isinstance(value, dict) and not isinstance(key, str):
            raise _OverLimit(f"object keys are strings, got {type(key).__name__}")
        try:
            total += (_text_size(key, "the key is ") + 1 if isinstance(key, str) else 0) + _size(item, depth + 1) + 1
        except _OverLimit as exc:
            exc.path.insert(0, key)
            raise
        if total > MAX_JOB_BYTES:
            break
    return total


def _text_size(text: str, what: str = "") -> int:
    if text.isascii():
        return len(text) + 2
    try:
        return len(text.encode()) + 2
    except UnicodeEncodeError:
        raise _OverLimit(f"{what}not valid Unicode text (a lone surrogate); send UTF-8") from None


def _scalar_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise _OverLimit(f"an integer of more than {MAX_INT_BITS} bits")
        return len(str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _OverLimit("not a finite number")
        return len(repr(value))
    raise _OverLimit(f"not a JSON value ({type(value).__name__})")


def _where(path: list[Any]) -> str:
    """A path as reasons print it: bounded, and safe to store even when a key is not valid text."""
    text = ".".join(clean_text(str(p))[:60] for p in path[:6]) or "job"
    return text + ".<...>" if len(path) > 6 else text


def clean_text(text: str) -> str:
    """``text`` with any lone surrogate replaced (U+FFFD): safe to encode as UTF-8, store and print."""
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def storable(raw: Any) -> Any:
    """A copy of a rejected input that the ledger can always store and read back: JSON types only, at most
    MAX_JOB_DEPTH deep and about STORED_NODES values, lone surrogates replaced (U+FFFD), long strings cut."""
    return _copy(raw, 1, [STORED_NODES])


def _copy(value: Any, depth: int, budget: list[int]) -> Any:
    """``budget``: values left to copy, shared by the whole walk."""
    budget[0] -= 1
    if not isinstance(value, dict | list | tuple):
        return _stored_scalar(value)
    if depth > MAX_JOB_DEPTH or budget[0] < 0:
        return f"<{type(value).__name__} cut>"
    if isinstance(value, dict):
        pairs = islice(value.items(), max(budget[0], 0))
        return {_stored_text(k if isinstance(k, str) else _stored_scalar(k)): _copy(v, depth + 1, budget)
                for k, v in pairs}
    return [_copy(v, depth + 1, budget) for v in islice(value, max(budget[0], 0))]


def _stored_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return _stored_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_INT_BITS else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return f"<{type(value).__name__}>"


def _stored_text(text: Any) -> str:
    text = str(text)[:STORED_TEXT_CHARS]
    return clean_text(text)
