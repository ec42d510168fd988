"""A Celery consumer that records the messages Celery would only log and discard, and batches task events.

A message that cannot be decoded, names no task we know, or is no task Celery can run, is a job someone
meant to send: it is recorded as rejected with the reason and a bounded copy of it, so the operator sees
it, and acked. Before it connects, the consumer guards kombu's transport (``guard.py``); before Celery's
strategy unpacks a task message, it checks the decoded body and headers (``shapes.task_problem``), since
Celery's ``Request`` and the pool's tracer would fail on them where nothing records or acks the message.
Only ``cancelq.*`` tasks run from our queue: Celery's own (``celery.chord_unlock``...) are refused.

Celery publishes buffered task events on the next turn of the event loop, waking
the loop from the pool's threads for each event: three wake-ups and about one
PUBLISH per job. Flushing them every ``EVENT_FLUSH_S`` instead sends them in
batches (Flower takes a batch as it takes one event) for a delay no one sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from celery.exceptions import InvalidTaskError
from celery.worker.consumer import Consumer as CeleryConsumer

from cancelq.core.logging import get_logger
from cancelq.jobs.contract import TASK_NAME
from cancelq.worker.guard import broker_faults, describe, install_guard, reject
from cancelq.worker.shapes import task_problem

EVENT_FLUSH_S = 0.05
OWN_TASKS = TASK_NAME.partition(".")[0] + "."


def _raw(message: Any) -> Any:
    """The message as read: kombu's virtual transports keep the parsed envelope; else its parts."""
    raw = getattr(message, "_raw", None)
    if raw is not None:
        return raw
    return {"headers": message.headers, "properties": message.properties, "body": message.body}


def _checked(strategy: Callable[..., Any]) -> Callable[..., Any]:
    """Celery's strategy, behind a check of what it, its ``Request`` and the tracer unpack. The body is
    the one Celery decodes anyway (kombu memoises ``message.payload``): no second parse."""
    def checked(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        problem = task_problem(message.payload if body is None else body, message.headers, message.content_type)
        if problem is not None:
            raise InvalidTaskError(problem)
        return strategy(message, body, *args, **kwargs)
    return checked


def _refused(name: str) -> Callable[..., Any]:
    reason = f"task {name!r} does not run on cancelq's queue; cancel jobs use {TASK_NAME!r}"

    def refused(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        raise InvalidTaskError(reason)
    return refused


class Consumer(CeleryConsumer):  # type: ignore[misc]
    _flusher: Any = None
    _flusher_lock = threading.Lock()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install_guard()
        super().__init__(*args, **kwargs)
        self._faults = broker_faults(tuple(self.connection_errors) + tuple(self.channel_errors))

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

    def update_strategies(self) -> None:
        super().update_strategies()
        for name, strategy in list(self.strategies.items()):
            self.strategies[name] = _checked(strategy) if name.startswith(OWN_TASKS) else _refused(name)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        reject(_raw(message), f"undecodable message ({message.content_type}): {exc}")
        self._then(message, super().on_decode_error, message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        reject(_raw(message), "a message with no task name: Celery protocol 2 names it in headers.task")
        self._then(message, super().on_unknown_message, body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = message.headers.get("task") if isinstance(message.headers, dict) else None
        reject(_raw(message), f"unknown task {name!r}; cancel jobs use {TASK_NAME!r}")
        self._then(message, super().on_unknown_task, body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        reject(_raw(message), f"invalid task message: {exc}")
        self._then(message, super().on_invalid_task, body, message, exc)

    def _then(self, message: Any, celery_hook: Callable[..., Any], *args: Any) -> None:
        """Celery's own handling of a recorded message (a log line, then the ack or reject); should that
        fail on the message, the message is acked all the same, so it cannot come back."""
        try:
            celery_hook(*args)
        except self._faults:
            raise
        except Exception as exc:
            get_logger("cancelq.intake").warning("message_handling_failed", error=describe(exc))
            if not message.acknowledged:
                message.ack()
