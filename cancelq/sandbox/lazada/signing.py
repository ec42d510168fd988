"""The gateway's own checks (nothing from ``cancelq.platforms``): parameters, timestamp and the LazOP sign."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

SYSTEM_PARAMS = ("app_key", "timestamp", "sign_method", "sign")
TIMESTAMP_WINDOW_S = 7200


class Reject(Exception):
    """A gateway-level refusal, answered before the call reaches the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def lazada_sign(secret: str, api_path: str, params: Mapping[str, str]) -> str:
    """The sandbox's own LazOP signature: path + sorted key+value pairs, HMAC-SHA256, upper hex."""
    text = api_path + "".join(k + params[k] for k in sorted(params))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def check_signature(params: Mapping[str, str], *, api_path: str, app_secret: str) -> None:
    """Timestamp, sign method and sign of a request whose app is known; ``Reject`` on the first that fails."""
    if not fresh(params["timestamp"]):
        raise Reject("InvalidTimestamp", "Invalid timestamp: it must be within 7200 seconds of UTC")
    if params["sign_method"] != "sha256":
        raise Reject("InvalidSignMethod", f"Unsupported sign_method {params['sign_method']!r}; use sha256")
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    if not hmac.compare_digest(lazada_sign(app_secret, api_path, unsigned), params["sign"]):
        raise Reject("IncompleteSignature", "The request signature does not conform to platform standards")


async def read_params(request: web.Request) -> dict[str, str]:
    """Query and form parameters alike, as the gateway takes them."""
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not params.get(name):
            raise Reject(
                "MissingParameter",
                f'The input parameter "{name}" that is mandatory for processing this request is not supplied',
            )


def fresh(timestamp: str, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    try:
        seconds = int(timestamp) / 1000 if timestamp.isdigit() else _iso_seconds(timestamp)
    except ValueError:
        return False
    return abs(now - seconds) < TIMESTAMP_WINDOW_S


def _iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
