"""Cheap shape checks of a broker message, and a bounded text copy of one for the rejection record.

``envelope_problem`` checks what kombu's Redis transport reads from the list item before Celery sees it;
``task_problem`` checks what Celery's strategy, its ``Request`` and the pool's tracer unpack from the
decoded body and headers. Each returns why the message cannot be run, or None. Neither parses anything:
they look at values kombu and Celery have already decoded, a handful of type checks per message.
"""

from __future__ import annotations

import json
import reprlib
from typing import Any

MAX_RAW_CHARS = 3000
"""A rejected message's raw copy; the ledger bounds the record at 4,000 characters of JSON."""
_BASE64 = "base64"
_JSON = "application/json"
_NUMBER = (int, float)
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 8, MAX_RAW_CHARS, 200
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = 50


def kind(value: Any) -> str:
    """A JSON value's kind, for a reason a sender understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, _NUMBER):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def raw_text(raw: Any, limit: int = MAX_RAW_CHARS) -> str:
    """At most ``limit`` characters of ``raw``: bytes as UTF-8 (other bytes escaped), anything else as JSON."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw[: limit * 4]).decode("utf-8", "backslashreplace")[:limit]
    if isinstance(raw, str):
        return raw[:limit]
    try:
        text = json.dumps(raw, default=repr, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = _REPR.repr(raw)
    return text[:limit]


def envelope_problem(envelope: Any) -> str | None:
    """Why kombu cannot take this envelope (``virtual.Message.__init__``, ``QoS.append``), or None."""
    if not isinstance(envelope, dict):
        return f"the message must be a JSON object (a kombu envelope), not {kind(envelope)}"
    properties = envelope.get("properties")
    if not isinstance(properties, dict):
        return "the message has no properties" if properties is None else \
            f"the message's properties must be an object, not {kind(properties)}"
    return _properties_problem(properties) or _body_problem(envelope, properties) or \
        _headers_problem(envelope.get("headers"))


def _properties_problem(properties: dict[str, Any]) -> str | None:
    tag = properties.get("delivery_tag")
    if tag is None or tag == "":
        return "the message has no properties.delivery_tag"
    if not isinstance(tag, str | int | float) or isinstance(tag, bool):
        return f"properties.delivery_tag must be a string, not {kind(tag)}"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not isinstance(info.get("exchange"), str) \
            or not isinstance(info.get("routing_key"), str):
        return "properties.delivery_info must be an object with an exchange and a routing_key (strings)"
    encoding = properties.get("body_encoding")
    if encoding and not (encoding == _BASE64 or (isinstance(encoding, str) and encoding.lower() == "utf-8")):
        return f"unknown body_encoding {raw_text(encoding, 40)!r}: use 'base64'"
    return None


def _body_problem(envelope: dict[str, Any], properties: dict[str, Any]) -> str | None:
    body = envelope.get("body")
    if body is None or body == "":
        return "the message has no body"
    if not isinstance(body, str):
        return f"the message's body must be a string (base64 of the JSON body), not {kind(body)}"
    if properties.get("body_encoding") == _BASE64 and body[:1] in ("[", "{"):
        return "the body is not base64 (body_encoding says base64): base64-encode the JSON body"
    return None


def _headers_problem(headers: Any) -> str | None:
    if headers is None:
        return None
    if not isinstance(headers, dict):
        return f"headers must be a JSON object, not {kind(headers)}"
    if "task" in headers:
        if not isinstance(headers["task"], str):
            return f"headers.task must be a string, not {kind(headers['task'])}"
        task_id = headers.get("id")
        if task_id is None:
            return "headers.id is missing: protocol 2 carries the task id there"
        if not isinstance(task_id, str | int) or isinstance(task_id, bool):
            return f"headers.id must be a string (the task id), not {kind(task_id)}"
    return None


def task_problem(payload: Any, headers: Any, content_type: Any) -> str | None:
    """Why Celery cannot run this decoded body with these headers, or None."""
    if isinstance(payload, bytes | bytearray | str) and content_type != _JSON:
        return f"the body was not decoded (content-type {raw_text(content_type, 60)!r}): send application/json"
    if isinstance(payload, dict) and "args" in payload:  # protocol 1, or its hybrid with protocol-2 headers
        problem = _args_problem(payload["args"], payload.get("kwargs", {}), "args", "kwargs")
    elif isinstance(payload, list | tuple) and len(payload) == 3:
        problem = _args_problem(payload[0], payload[1], "args (the body's first item)",
                                "kwargs (the body's second item)") or _embed_problem(payload[2])
    else:
        problem = f"the body must be a JSON list [args, kwargs, embed] (Celery protocol 2), not {kind(payload)}"
    return problem or _headers_run_problem(headers)


def _args_problem(args: Any, kwargs: Any, args_name: str, kwargs_name: str) -> str | None:
    if not isinstance(args, list | tuple):
        return f"{args_name} must be a list, not {kind(args)}"
    if not isinstance(kwargs, dict):
        return f"{kwargs_name} must be an object, not {kind(kwargs)}"
    return None


def _embed_problem(embed: Any) -> str | None:
    if not isinstance(embed, dict):
        return f"embed (the body's third item) must be an object, not {kind(embed)}"
    for key in ("callbacks", "errbacks", "chain"):
        value = embed.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return f"embed.{key} must be null or a list of task signatures, not {kind(value)}"
    chord = embed.get("chord")
    if chord is not None and not isinstance(chord, dict):
        return f"embed.chord must be null or a task signature, not {kind(chord)}"
    return None


def _headers_run_problem(headers: Any) -> str | None:
    """The headers ``Request.execute_using_pool`` unpacks after Celery has reserved the request."""
    if not isinstance(headers, dict):
        return None
    stamped = headers.get("stamped_headers")
    if stamped is not None and not isinstance(stamped, list | tuple):
        return f"headers.stamped_headers must be a list, not {kind(stamped)}"
    limits = headers.get("timelimit")
    if not limits:
        return None
    if isinstance(limits, list | tuple) and len(limits) == 2 and all(
            v is None or (isinstance(v, _NUMBER) and not isinstance(v, bool)) for v in limits):
        return None
    return f"headers.timelimit must be [hard, soft] in seconds (numbers or null), not {kind(limits)}"
