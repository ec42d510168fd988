"""Who is asking, and may they: the API key (401), its rate (429, the fleet-wide gate), its scopes and shops (403).

A missing, malformed, unknown, wrong or revoked key all get the same 401; a key without the scope gets 403
before anything is looked up, so neither says whether a job exists. Each key's requests are counted in the
same GCRA gate as platform calls (one script call a request, keyed ``apikey:<id>``), so the limit holds for
all API processes together.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cancelq.api.apikeys import ApiKey
from cancelq.api.context import api_of
from cancelq.api.problems import Problem

bearer = HTTPBearer(auto_error=False, description="an API key made by `cancelq apikeys create`: "
                                                  "`Authorization: Bearer cqk_...`")


def unauthorized() -> Problem:
    return Problem(401, "unauthorized", "a valid API key is needed: Authorization: Bearer cqk_...",
                   headers={"WWW-Authenticate": 'Bearer realm="cancelq"'})


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiKey:
    return authorize(request, credentials)


def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None, scope: str | None = None) -> ApiKey:
    """The key (401), within its rate (429) and, with ``scope``, holding it (403). The busiest routes call this in
    the thread that does their work, rather than as a dependency in a thread of its own (~0.3 ms a request)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    api = api_of(request)
    key = api.verify(credentials.credentials)
    if key is None:
        raise unauthorized()
    request.state.key_name = key.name
    verdict = api.rt.gate.check(limits=[(f"apikey:{key.id}", api.limit)], cooldowns=[], circuits=[], job_id="")
    if not verdict.allowed:
        raise Problem(429, "rate-limited", f"this key may make {api.limit.rate_per_s:g} requests per second",
                      headers={"Retry-After": str(max(1, math.ceil(verdict.wait_s)))})
    if scope is not None:
        check_scope(key, scope)
    return key


def check_scope(key: ApiKey, scope: str) -> None:
    if scope not in key.scopes:
        raise Problem(403, "forbidden", f"this API key lacks the scope {scope}")


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the authenticated key, which must hold ``scope``."""

    async def dependency(key: ApiKey = Depends(authenticate)) -> ApiKey:  # no I/O: no thread for it
        check_scope(key, scope)
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def check_shop(key: ApiKey, platform: object, shop: object) -> None:
    """403 unless the key is for this shop (values that are not text are left to the job's own checks)."""
    if isinstance(platform, str) and isinstance(shop, str) and not key.allows_shop(platform, shop):
        raise Problem(403, "forbidden", f"this API key is not for the shop {platform}/{shop}")


def all_shops(key: ApiKey, what: str) -> None:
    """403 unless the key is for every shop (what spans shops: campaigns, webhook endpoints)."""
    if not key.all_shops:
        raise Problem(403, "forbidden", f"{what} needs an API key for all shops (this one is for "
                                        f"{', '.join(key.shops)})")
