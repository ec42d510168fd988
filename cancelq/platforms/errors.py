"""The one error hierarchy of the platform layer.

Every answer a platform gives that is not a success becomes one of these, and
every transport failure too (translated once, in ``platforms/http.py``)::

    PlatformError(platform, step, http_status, code, message, request_id)
    ├── TransientError       5xx, timeouts, resets, error_server, "Inner http call failed", ISP errors
    │   └── RateLimited      429, error_rate_limit, ApiCallLimit ("ban will last N seconds"); .retry_after_s
    ├── QuotaExhausted       a daily quota (Shopee error_limit); .retry_at (00:00 UTC+8)
    ├── AuthExpired          access token invalid or expired: refresh once, then retry
    ├── ReauthRequired       refresh token dead, shop unlinked: park the shop's jobs, alert
    ├── PermanentError       bad params, not cancellable (shipped), permission: never retried
    │   └── ConfigError      a setting is wrong (partner key, source IP, banned shop, this worker's clock):
    │                        park its ``scope`` (app, shop or clock), alert once, until an operator fixes it
    └── AlreadyCancelled     the order (or those items) is already cancelled: a success

``check_status`` marks an answer after which the order's state is unknown to us:
a write that may have been applied (timeout after sending, 5xx, Shopee
error_network) or a rejection that may mean "already cancelled" (Shopee
order.error_limit, Shopline 422, Shoplazza 406). The caller reads the order's
status before deciding anything else.

Messages never hold secrets: the HTTP layer scrubs every credential it knows of
before an error is built, and no error carries a URL's query string.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class PlatformError(Exception):
    """A platform call that did not succeed, with everything an operator needs to trace it."""

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        step: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        check_status: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.step = step
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.check_status = check_status

    def __str__(self) -> str:
        parts = [f"{self.platform}"]
        if self.step:
            parts.append(self.step)
        head = "/".join(parts)
        code = f" [{self.code}]" if self.code else ""
        status = f" http={self.http_status}" if self.http_status is not None else ""
        rid = f" request_id={self.request_id}" if self.request_id else ""
        return f"{head}{code}{status}: {self.message}{rid}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record of the error (for the ledger and the dead letters)."""
        return {
            "error_class": type(self).__name__,
            "platform": self.platform,
            "step": self.step,
            "http_status": self.http_status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "check_status": self.check_status,
        }


def _rebuild(cls: type[PlatformError], message: str, state: dict[str, Any]) -> PlatformError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class TransientError(PlatformError):
    """A failure that is expected to pass: retry later with backoff."""


class RateLimited(TransientError):
    """The platform asked us to slow down; ``retry_after_s`` is its word on how long, when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after_s": self.retry_after_s}


class QuotaExhausted(PlatformError):
    """A daily quota is spent; nothing will pass before ``retry_at``."""

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_at = retry_at

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_at": self.retry_at.isoformat()}


class AuthExpired(PlatformError):
    """The access token is invalid or expired: refresh it once, then retry."""


class ReauthRequired(PlatformError):
    """The seller must authorise the app again (refresh token dead, shop unlinked)."""


class PermanentError(PlatformError):
    """The request cannot succeed as it stands: never retried."""


CONFIG_SCOPES = ("app", "shop", "clock")
"""What a configuration fault implicates: the app/partner (every shop of its key), the shop, or the clock of
the worker that sent the call."""


class ConfigError(PermanentError):
    """A setting is wrong, not the job: every job of ``scope`` would fail the same way until an operator fixes
    it (a wrong or rotated partner key, an undeclared source IP, a banned or frozen shop, a skewed clock)."""

    def __init__(self, message: str, *, scope: str, **kwargs: Any) -> None:
        if scope not in CONFIG_SCOPES:
            raise ValueError(f"unknown configuration scope {scope!r}; expected one of {', '.join(CONFIG_SCOPES)}")
        super().__init__(message, **kwargs)
        self.scope = scope

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "scope": self.scope}


class AlreadyCancelled(PlatformError):
    """The order, or the items asked for, is already cancelled: the job's goal is met."""


ERROR_CLASSES: dict[str, type[PlatformError]] = {
    cls.__name__: cls
    for cls in (
        PlatformError,
        TransientError,
        RateLimited,
        QuotaExhausted,
        AuthExpired,
        ReauthRequired,
        ConfigError,
        PermanentError,
        AlreadyCancelled,
    )
}
