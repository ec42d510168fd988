"""Celery protocol-2 messages for the Redis list, built by hand: the valid shape and the broken shapes seen in the wild.

A message on kombu's Redis transport is one list item: a JSON "envelope" whose ``body`` is the task's
``[args, kwargs, embed]``, JSON-encoded and then base64-encoded (README: "Without a Celery library").
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from cancelq.jobs.contract import TASK_NAME

QUEUE = "cancelq"
UNACKED = "unacked"
EMBED: dict[str, Any] = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def envelope(body: Any, *, message_id: str | None = None, task: str = TASK_NAME) -> dict[str, Any]:
    """A well-formed envelope around ``body`` (any JSON value), exactly as the README's redis-cli recipe builds it."""
    message_id = message_id or str(uuid.uuid4())
    return {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "sh", "task": task, "id": message_id, "root_id": message_id,
                    "parent_id": None, "group": None},
        "properties": {"correlation_id": message_id, "delivery_mode": 2, "delivery_tag": message_id,
                       "body_encoding": "base64", "delivery_info": {"exchange": "", "routing_key": QUEUE},
                       "priority": 0},
    }


def job_body(job: dict[str, Any]) -> list[Any]:
    return [[job], {}, dict(EMBED)]


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass(frozen=True)
class Poison:
    """A message Celery or kombu cannot take; ``marker`` appears in its raw bytes, ``reason`` in its rejection."""

    name: str
    raw: bytes
    marker: str
    reason: str


def _with(name: str, change: Any, reason: str, body: Any = None) -> Poison:
    marker = f"poison-{name}"
    env = envelope(body if body is not None else job_body({"order_id": marker}), message_id=marker)
    change(env)
    return Poison(name, encode(env), marker, reason)


def _body(name: str, body: Any, reason: str) -> Poison:
    marker = f"poison-{name}"
    return Poison(name, encode(envelope(body, message_id=marker)), marker, reason)


def _raw(name: str, raw: bytes, reason: str) -> Poison:
    return Poison(name, raw, f"poison-{name}", reason)


def _deep(marker: str, depth: int) -> bytes:
    return b'{"marker": "' + marker.encode() + b'", "x": ' + b"[" * depth + b"]" * depth + b"}"


def _invalid_utf8(marker: str) -> bytes:
    return encode(envelope(job_body({"order_id": marker}), message_id=marker)).replace(b'"sh"', b'"s\xff\xfeh"')


def _unbased(marker: str) -> bytes:
    env = envelope(None, message_id=marker)
    env["body"] = json.dumps(job_body({"order_id": marker}))
    return encode(env)


def _pop(*path: str) -> Any:
    def change(env: dict[str, Any]) -> None:
        for key in path[:-1]:
            env = env[key]
        del env[path[-1]]
    return change


def _set(value: Any, *path: str) -> Any:
    def change(env: dict[str, Any]) -> None:
        for key in path[:-1]:
            env = env[key]
        env[path[-1]] = value
    return change


POISON: list[Poison] = [
    _body("body-number", 5, "the body must be a JSON list [args, kwargs, embed]"),
    _body("body-string", "s", "the body must be a JSON list [args, kwargs, embed]"),
    _body("body-object", {}, "the body must be a JSON list [args, kwargs, embed]"),
    _body("body-one-item", [1], "the body must be a JSON list [args, kwargs, embed]"),
    _body("body-null", None, "the body must be a JSON list [args, kwargs, embed]"),
    _body("body-two-items", [[], {}], "the body must be a JSON list [args, kwargs, embed]"),
    _body("args-a-string", ["x", {}, {}], "args (the body's first item) must be a list"),
    _body("kwargs-a-list", [[{}], [], {}], "kwargs (the body's second item) must be an object"),
    _body("embed-a-string", [[{}], {}, "embed"], "embed (the body's third item) must be an object"),
    _body("embed-callbacks-a-number", [[{}], {}, {**EMBED, "callbacks": 5}], "embed.callbacks must be null or a list"),
    _with("content-type-empty", _set("", "content-type"), "the body was not decoded (content-type '')"),
    _with("headers-a-string", _set("cancelq.cancel", "headers"), "headers must be a JSON object"),
    _with("body-encoding-none", _set("none", "properties", "body_encoding"), "body_encoding 'none'"),
    _with("no-body", _pop("body"), "the message has no body"),
    _raw("envelope-not-json", b"poison-envelope-not-json {not json", "the message is not JSON"),
    _with("body-bad-base64", _set("W1t7fV0", "body"), "the body is not valid base64"),
    _raw("envelope-a-list", encode(["poison-envelope-a-list", {"body": ""}]), "the message must be a JSON object"),
    _raw("envelope-invalid-utf8", _invalid_utf8("poison-envelope-invalid-utf8"), "the message is not UTF-8"),
    _raw("envelope-nested-100k", _deep("poison-envelope-nested-100k", 100_000), "nested too deep"),
    _raw("body-not-base64", _unbased("poison-body-not-base64"), "the body is not base64"),
    _with("task-chord-unlock", _set("celery.chord_unlock", "headers", "task"),
          "task 'celery.chord_unlock' does not run on cancelq's queue"),
    _with("task-backend-cleanup", _set("celery.backend_cleanup", "headers", "task"),
          "task 'celery.backend_cleanup' does not run on cancelq's queue"),
    _with("task-celery-group", _set("celery.group", "headers", "task"),
          "task 'celery.group' does not run on cancelq's queue"),
    _with("task-a-list", _set(["cancelq.cancel"], "headers", "task"), "headers.task must be a string"),
    _with("no-properties", _pop("properties"), "the message has no properties"),
    _with("no-delivery-tag", _pop("properties", "delivery_tag"), "the message has no properties.delivery_tag"),
    _with("no-delivery-info", _pop("properties", "delivery_info"), "properties.delivery_info"),
    _with("no-message-id", _pop("headers", "id"), "headers.id is missing"),
    _with("timelimit-a-string", _set("soon", "headers", "timelimit"), "headers.timelimit"),
]
