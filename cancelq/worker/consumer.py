"""A Celery consumer that records the messages Celery would only log and discard, and batches task events.

A message that cannot be decoded, or names no task we know, is a job someone
meant to send: it is recorded as rejected with the reason, so the operator sees it.

Celery publishes buffered task events on the next turn of the event loop, waking
the loop from the pool's threads for each event: three wake-ups and about one
PUBLISH per job. Flushing them every ``EVENT_FLUSH_S`` instead sends them in
batches (Flower takes a batch as it takes one event) for a delay no one sees.
"""

from __future__ import annotations

import threading
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from cancelq.core.logging import get_logger
from cancelq.runtime import get_runtime


def _record(raw: Any, reason: str) -> None:
    try:
        job_id = get_runtime().ledger.reject(raw, reason, source="broker")
        get_logger("cancelq.intake").warning("message_rejected", job_id=job_id, reason=reason)
    except Exception as exc:  # recording must never take the consumer down
        get_logger("cancelq.intake").error("reject_record_failed", reason=reason, error=repr(exc))


EVENT_FLUSH_S = 0.05


class Consumer(CeleryConsumer):  # type: ignore[misc]
    _flusher: Any = None
    _flusher_lock = threading.Lock()

    def on_send_event_buffered(self) -> None:
        if self.hub is None:
            super().on_send_event_buffered()
            return
        if self._flusher is None:
            with self._flusher_lock:
                if self._flusher is None:
                    self._flusher = self.hub.call_soon(self._start_flusher)

    def _start_flusher(self) -> None:
        self._flusher = self.hub.call_repeatedly(EVENT_FLUSH_S, self._flush_events)

    def shutdown(self) -> None:
        self._flush_events()
        super().shutdown()

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
