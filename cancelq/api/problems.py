"""RFC 9457 problem details: every error the API answers is one ``application/problem+json`` object.

``Problem`` is raised by the routes; the handlers here turn it, FastAPI's validation errors, Redis and
broker outages (503 with ``Retry-After``) and anything unexpected (500, never a traceback) into one shape.
No handler puts a request's headers, a key or a secret into what it answers or logs.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cancelq.api.models import ProblemOut

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://cancelq.dev/problems/"
TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
    429: "Too many requests", 500: "Internal server error", 503: "Service unavailable",
}
log = structlog.get_logger("cancelq.api")


class Problem(Exception):
    """An error answer: ``status``, a ``slug`` naming its type, a ``detail`` for people, optional extra members."""

    def __init__(self, status: int, slug: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request | None, status: int, slug: str, detail: str, *,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
        body["request_id"] = getattr(request.state, "request_id", "")
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.slug, exc.detail, headers=exc.headers, **exc.extra)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', '')}"
              for e in exc.errors()[:20]]
    return problem_response(request, 422, "invalid-request", "; ".join(errors), errors=errors)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {400: "invalid-request", 404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = "the body is not valid JSON" if exc.status_code == 400 else str(exc.detail)
    return problem_response(request, exc.status_code, slug, detail, headers=dict(exc.headers or {}))


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    what = "the broker" if isinstance(exc, OperationalError) else "Redis"
    log.warning("api_unavailable", what=what, error=type(exc).__name__,
                request_id=getattr(request.state, "request_id", ""))
    retry = str(request.app.state.api.settings.api_retry_after_s)
    return problem_response(request, 503, "unavailable", f"{what} is unreachable; nothing was changed "
                            "by this request unless its answer says so. Try again.", headers={"Retry-After": retry})


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("api_error", error=type(exc).__name__, path=request.url.path,
              request_id=getattr(request.state, "request_id", ""))
    return problem_response(request, 500, "internal", "an unexpected error; it was logged with this request id")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(redis.ConnectionError, _unavailable)
    app.add_exception_handler(redis.TimeoutError, _unavailable)
    app.add_exception_handler(redis.exceptions.BusyLoadingError, _unavailable)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error statuses (each a problem+json ``ProblemOut``)."""
    return {status: {"model": ProblemOut, "description": TITLES[status],
                     "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}}
            for status in statuses}
