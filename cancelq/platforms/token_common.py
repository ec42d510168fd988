"""What the token refreshers share: the ``TokenSet`` they answer and small helpers (see ``tokens.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from .errors import PermanentError, PlatformError, ReauthRequired, TransientError
from .http import HttpClient, Reply, Timeouts, secrets_of

STEP = "refresh"
API = "refresh_access_token"
Clock = Callable[[], float]


@dataclass(frozen=True)
class TokenSet:
    """A refresh's result. Times are epoch seconds; None when the platform does not say.

    ``refresh_token`` is None on SHOPLINE (it has none); otherwise it replaces the
    stored one (Shopee's old one is spent).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    refresh_expires_at: float | None = None

    def apply(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """``credentials`` with the new tokens in place (the refresh token kept when the platform has none)."""
        updated = {**credentials, "access_token": self.access_token}
        if self.refresh_token is not None:
            updated["refresh_token"] = self.refresh_token
        return updated


# --- helpers --------------------------------------------------------------------------------------------


def required(platform: str, credentials: Mapping[str, Any], *keys: str) -> dict[str, str]:
    """The named credentials as strings; a missing refresh token needs re-authorisation, anything else is config."""
    values = {k: str(credentials.get(k) or "") for k in keys}
    if "refresh_token" in values and not values["refresh_token"]:
        raise ReauthRequired("no refresh_token is stored for this shop: the seller must authorise the app again",
                             platform=platform, step=STEP, code="no_refresh_token")
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise PermanentError(f"{platform} token refresh needs {', '.join(missing)} in the credentials",
                             platform=platform, step=STEP, code="invalid_credentials")
    return values


def client(platform: str, session: requests.Session, timeouts: Timeouts, secrets: tuple[str | None, ...]) -> HttpClient:
    """The HTTP client of one refresh: no throttle (token endpoints are not the order APIs' buckets)."""
    return HttpClient(platform=platform, session=session, timeouts=timeouts, secrets=secrets_of(secrets))


def number(value: Any) -> float | None:
    """A lifetime or epoch from a JSON answer (numbers sometimes come as strings); None when not a number."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def bad_answer(platform: str, reply: Reply, request_id: str | None, what: str) -> TransientError:
    """A success-looking answer we cannot use. Its body is never quoted: it may hold the new tokens."""
    return TransientError(
        f"the token answer {what}; the refresh may have been applied", platform=platform, step=STEP,
        http_status=reply.status, code="invalid_token_answer", request_id=request_id, check_status=True,
    )


def text(value: Any) -> str | None:
    """A non-empty string from a JSON answer, else None."""
    return value if isinstance(value, str) and value else None


def error_fields(exc: PlatformError) -> dict[str, Any]:
    """An error's keyword fields, to rebuild it as another class."""
    return {"platform": exc.platform, "step": exc.step, "http_status": exc.http_status, "code": exc.code,
            "request_id": exc.request_id, "check_status": exc.check_status}


def reauth(error: PlatformError) -> ReauthRequired:
    """The same answer, as the platform's \"authorise the app again\"."""
    return ReauthRequired(error.message, **error_fields(error))
