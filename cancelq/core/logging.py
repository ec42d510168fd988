"""structlog set-up: JSON lines (console when a terminal), secrets redacted by a processor."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = frozenset({
    "partner_key", "app_secret", "client_secret", "access_token", "refresh_token", "sign", "signature",
    "authorization", "access-token", "password", "secret", "token", "credentials", "encryption_key",
})
_SECRET_ASSIGN = re.compile(
    r"(?i)\b(partner_key|app_secret|client_secret|access_token|refresh_token|sign|authorization|access-token)"
    r"(['\"]?\s*[=:]\s*['\"]?)(?!bearer\b)([^\s&'\",}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\",}]+")
_QUERY = re.compile(r"\?[^\s'\")]+")
_ANY_SECRET = re.compile(r"(?i)[=:?]|bearer")
"""Every pattern above needs one of these; most logged values (ids, states) have none and skip the three."""


def redact_text(text: str) -> str:
    """Mask ``key=value`` secrets, bearer tokens and query strings inside free text."""
    if not _ANY_SECRET.search(text):
        return text
    text = _BEARER.sub(r"\1***", text)
    return _QUERY.sub("?<redacted>", _SECRET_ASSIGN.sub(r"\1\2***", text))


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if key.lower() in SECRET_KEYS:
            event[key] = "***"
        elif type(value) is str:
            if _ANY_SECRET.search(value):
                event[key] = redact_text(value)
        elif value is not None and not isinstance(value, int | float):
            event[key] = redact(value)
    return event


def configure(fmt: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "cancelq") -> Any:
    return structlog.get_logger(name)
