"""``GET /healthz`` (the process answers) and ``GET /readyz`` (Redis and the broker answer): no key needed."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from kombu.connection import Connection

from cancelq.api.context import api_of
from cancelq.api.models import Health

router = APIRouter(tags=["health"])
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "valkey://", "valkeys://")
TIMEOUT_S = 2.0


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(ok=True)


@router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "not ready"}})
def readyz(request: Request) -> JSONResponse:
    api = api_of(request)
    checks = {"redis": _redis(api.rt.redis), "broker": _broker(api.settings.broker_url, api.rt.redis)}
    ok = all(v == "ok" for v in checks.values())
    headers = {} if ok else {"Retry-After": str(api.settings.api_retry_after_s)}
    return JSONResponse(Health(ok=ok, checks=checks).model_dump(), status_code=200 if ok else 503, headers=headers)


def _redis(client: redis.Redis) -> str:
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _broker(url: str | None, ledger: redis.Redis) -> str:
    """The broker is the ledger's Redis unless ``broker_url`` names another; its URL (and password) is not shown."""
    if not url:
        return _redis(ledger)
    try:
        if url.startswith(REDIS_SCHEMES):
            redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S).ping()
        else:
            with Connection(url, connect_timeout=TIMEOUT_S) as conn:  # type: ignore[no-untyped-call]
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_S)
    except Exception as exc:  # whatever the transport raises, the verdict is the same
        return f"unreachable ({type(exc).__name__})"
    return "ok"
