"""A Celery consumer that records the messages Celery would only log and discard.

A message that cannot be decoded, or names no task we know, is a job someone
meant to send: it is recorded as rejected with the reason, so the operator sees it.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from .logging import get_logger
from .runtime import get_runtime


def _record(raw: Any, reason: str) -> None:
    try:
        job_id = get_runtime().ledger.reject(raw, reason, source="broker")
        get_logger("cancelq.intake").warning("message_rejected", job_id=job_id, reason=reason)
    except Exception as exc:  # recording must never take the consumer down
        get_logger("cancelq.intake").error("reject_record_failed", reason=reason, error=repr(exc))


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        body = message.body if isinstance(message.body, str) else bytes(message.body)[:4000].decode("utf-8", "replace")
        _record({"body": body, "content_type": message.content_type},
                f"undecodable message ({message.content_type}): {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        _record({"body": body}, "a message with no task name")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = message.headers.get("task") if message.headers else None
        _record({"task": name, "body": body}, f"unknown task {name!r}; cancel jobs use 'cancelq.cancel'")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        _record({"body": body}, f"invalid task message: {exc}")
        super().on_invalid_task(body, message, exc)
