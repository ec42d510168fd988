"""The HTTP API's app: ``make_app(runtime or settings)`` builds it; ``serve`` runs it on uvicorn.

Routes live in one ``routes_*`` module per resource; errors are problem+json (``problems.py``); the edge
(request id, body limit, access log) is ``middleware.py``. The OpenAPI document (``/openapi.json``, ``/docs``)
carries the job contract's own JSON Schema as ``Job``.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from cancelq.api import problems
from cancelq.api.context import Api
from cancelq.api.middleware import Edge
from cancelq.core.settings import Settings, get_settings
from cancelq.jobs.contract import schema
from cancelq.runtime import Runtime

DESCRIPTION = """Submit, follow and act on order cancellations (Shopee, Lazada, Shopline, Shoplazza).

Authenticate with `Authorization: Bearer cqk_...` (`cancelq apikeys create`). Errors are RFC 9457
`application/problem+json`. POSTs that create jobs take an `Idempotency-Key` header. Serve it behind a
TLS-terminating reverse proxy."""


def make_app(source: Runtime | Settings | None = None) -> FastAPI:
    """The app on a runtime (or a new one on these settings); nothing connects until the first request."""
    from cancelq.api import (  # the routes import FastAPI: only the app needs them
        routes_campaigns,
        routes_cancellations,
        routes_deadletters,
        routes_events,
        routes_health,
        routes_jobs,
        routes_pushes,
        routes_webhooks,
    )

    rt = source if isinstance(source, Runtime) else Runtime(settings=source or get_settings())
    app = FastAPI(title="cancelq", version="1", description=DESCRIPTION)
    app.state.api = Api.of(rt)
    problems.install(app)
    for module in (routes_cancellations, routes_jobs, routes_campaigns, routes_deadletters, routes_events,
                   routes_webhooks, routes_pushes, routes_health):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    s = rt.settings
    app.add_middleware(Edge, body_limit=s.api_body_limit_bytes, upload_limit=s.api_upload_limit_bytes)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        job = copy.deepcopy(schema())
        for name in ("$schema", "$id"):
            job.pop(name, None)
        document.setdefault("components", {}).setdefault("schemas", {})["Job"] = job
        app.openapi_schema = document
    return app.openapi_schema


def configured_app() -> FastAPI:
    """The app on the configured settings, logging as they say: what each uvicorn worker process builds."""
    from cancelq.core.logging import configure

    s = get_settings()
    configure(s.log_format, s.log_level)
    return make_app(s)


def serve(host: str, port: int, *, workers: int = 1) -> None:
    """Run the API on uvicorn until stopped (SIGTERM/SIGINT end it gracefully); ``workers`` > 1: that many
    processes on one socket (each its own Redis pool; keys' rates still hold fleet-wide, in the gate)."""
    import uvicorn

    uvicorn.run("cancelq.api.app:configured_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", proxy_headers=True, server_header=False,
                timeout_keep_alive=30)
