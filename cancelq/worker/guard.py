"""No message on the queue stops a worker: kombu's Redis transport, guarded where it reads a message.

What this guards against (kombu 5.7 and Celery 5.7, Redis transport, Celery protocol 2):

* ``kombu.transport.redis.Channel._brpop_read`` parses the item BRPOP returned with
  ``loads(bytes_to_str(item))``. An item that is not JSON, or nested past Python's recursion limit, raises
  out of the event loop: the worker logs "Unrecoverable error" and exits, and the item, already off the
  list, is lost. An item that is not UTF-8 is decoded with each bad byte replaced, so the job runs with
  text its sender never sent (an order id with U+FFFD in it).
* The consume callback of ``kombu.transport.virtual.Channel.basic_consume`` builds a ``Message`` from the
  parsed envelope (``payload['properties']``, ``properties['delivery_tag']``, ``decode_body``,
  ``headers.get``), records it as unacked (``QoS.append``: ``delivery_info['exchange']``) and calls
  Celery's ``on_task_received``, which catches only ``InvalidTaskError``, ``ContentDisallowed``,
  ``DecodeError`` and unknown task names. Anything else raised there (a ``TypeError`` for a body that is
  not ``[args, kwargs, embed]``, an ``AttributeError`` for headers that are a string, a
  ``binascii.Error`` for a body that is not base64) stops the worker with the message unacked, so the
  shutdown puts it back on the list and it stops the next worker too. A ``KeyError`` (no properties, no
  delivery tag), which kombu 5.7 counts as a connection error, makes the consumer reconnect instead,
  and the message is lost without a record.

``install_guard`` patches, once: the Redis transport module's ``bytes_to_str`` (the same text; bytes
that were not UTF-8 are kept with it) and ``loads`` (the same result; a failure raises
``UndecodableEnvelope``, a ``ValueError`` carrying the raw item), ``Channel._brpop_read`` (an item that
cannot be read is recorded, not raised) and ``Channel.basic_consume`` (each consume callback checks the
envelope's shape first, and records any error but the broker's own, then acks the message). A valid
message costs a few type checks and one try block: nothing is parsed twice and no Redis call is added.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from kombu.transport import redis as kombu_redis

from cancelq.core.logging import get_logger
from cancelq.runtime import get_runtime
from cancelq.worker.shapes import envelope_problem, raw_text

_MARK = "_cancelq_guard"
MAX_REASON_CHARS = 500


class UndecodableEnvelope(ValueError):
    """A list item kombu could not read as a JSON envelope; ``raw`` is the item as read."""

    def __init__(self, raw: Any, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason


class _Replaced(str):
    """Text kombu decoded from bytes that were not UTF-8 (each bad byte replaced); ``raw`` keeps the bytes."""

    raw: bytes
    error: UnicodeDecodeError


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {raw_text(str(exc), 200)}"


def reject(raw: Any, reason: str, **fields: Any) -> None:
    """Record a message that cannot be run, with a bounded copy of it; recording never raises."""
    reason = raw_text(reason, MAX_REASON_CHARS)
    try:
        job_id = get_runtime().ledger.reject({**fields, "raw": raw_text(raw)}, reason, source="broker")
        get_logger("cancelq.intake").warning("message_rejected", job_id=job_id, reason=reason)
    except Exception as exc:  # recording must never take the consumer down
        get_logger("cancelq.intake").error("reject_record_failed", reason=reason, error=describe(exc))


def broker_faults(errors: tuple[type[BaseException], ...]) -> tuple[type[BaseException], ...]:
    """A transport's connection and channel errors, less ``KeyError``: kombu 5.7 lists it for a stale poller
    fd (kombu#2582), but in a consume callback a ``KeyError`` is a message without a field it needs."""
    return tuple(error for error in errors if not issubclass(error, LookupError))


def install_guard() -> None:
    """Patch kombu's Redis transport once (idempotent): see the module docstring for what and why."""
    module: Any = kombu_redis
    channel: Any = kombu_redis.Channel
    if getattr(channel._brpop_read, _MARK, False):
        return
    module.bytes_to_str = _keeping_bytes(module.bytes_to_str)
    module.loads = _raising_undecodable(module.loads)
    channel._brpop_read = _recording_unreadable(channel._brpop_read)
    channel.basic_consume = _guarding_callbacks(channel.basic_consume)


def _marked(function: Any) -> Any:
    setattr(function, _MARK, True)
    return function


def _keeping_bytes(bytes_to_str: Any) -> Any:
    def keeping_bytes(s: Any) -> Any:
        if not isinstance(s, bytes):
            return bytes_to_str(s)
        try:
            return s.decode()
        except UnicodeDecodeError as exc:
            text = _Replaced(bytes_to_str(s))
            text.raw, text.error = s, exc
            return text
    return _marked(keeping_bytes)


def _raising_undecodable(loads: Any) -> Any:
    def raising_undecodable(s: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(s, _Replaced):
            raise UndecodableEnvelope(s.raw, f"the message is not UTF-8: {s.error.reason} at byte {s.error.start}")
        try:
            return loads(s, *args, **kwargs)
        except RecursionError as exc:
            raise UndecodableEnvelope(s, "the message is nested too deep to read as JSON") from exc
        except json.JSONDecodeError as exc:
            raise UndecodableEnvelope(s, f"the message is not JSON: {exc.msg} at character {exc.pos}") from exc
        except Exception as exc:  # kombu's object hook: {"__type__": ..., "__value__": ...} it cannot build
            raise UndecodableEnvelope(s, f"the message could not be read: {describe(exc)}") from exc
    return _marked(raising_undecodable)


def _recording_unreadable(brpop_read: Any) -> Any:
    def _brpop_read(self: Any, **options: Any) -> Any:
        try:
            return brpop_read(self, **options)
        except UndecodableEnvelope as exc:
            reject(exc.raw, exc.reason)
            return True
    return _marked(_brpop_read)


def _guarding_callbacks(basic_consume: Any) -> Any:
    def basic_consume_guarded(self: Any, queue: str, *args: Any, **kwargs: Any) -> Any:
        result = basic_consume(self, queue, *args, **kwargs)
        callbacks = self.connection._callbacks
        if queue in callbacks:
            callbacks[queue] = _guarded(self, queue, callbacks[queue])
        return result
    return _marked(basic_consume_guarded)


def _guarded(channel: Any, queue: str, callback: Any) -> Any:
    transport = channel.connection
    faults = broker_faults((*transport.connection_errors, *transport.channel_errors))

    def deliver(envelope: Any) -> Any:
        problem = envelope_problem(envelope)
        if problem is not None:
            reject(envelope, problem, queue=queue)
            return None
        try:
            return callback(envelope)
        except faults:
            raise
        except Exception as exc:
            reject(envelope, _taking_problem(exc), queue=queue)
            _settle(channel, envelope["properties"]["delivery_tag"])
            return None

    return deliver


def _taking_problem(exc: Exception) -> str:
    if isinstance(exc, binascii.Error):
        return f"the body is not valid base64: {raw_text(str(exc), 200)}"
    return f"kombu/Celery could not take the message: {describe(exc)}"


def _settle(channel: Any, tag: Any) -> None:
    """Ack the message if kombu had recorded it as unacked, so neither a restart nor the visibility
    timeout puts it back on the list; one that failed before that was never recorded anywhere."""
    qos = channel.qos
    if tag in qos._delivered:
        qos.ack(tag)
