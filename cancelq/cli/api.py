"""``cancelq api``: serve the HTTP API (FastAPI on uvicorn; imported when the command runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from cancelq.core.settings import get_settings


def api(host: Annotated[str | None, typer.Option(help="address to bind (default api_host, 127.0.0.1)")] = None,
        port: Annotated[int | None, typer.Option(help="port (default api_port, 8080)")] = None,
        workers: Annotated[int | None, typer.Option(min=1, max=64, help="processes (default api_workers, 1)")]
        = None) -> None:
    """Serve the HTTP API (/v1, /openapi.json, /docs); put a TLS-terminating reverse proxy in front."""
    from cancelq.api.app import serve

    s = get_settings()
    serve(host or s.api_host, port or s.api_port, workers=workers or s.api_workers)
