"""Webhook endpoints (``cancelq webhooks`` over HTTP): create, list, rotate the secret, disable, enable, delete.

A secret is in the answer that made it (create, rotate) and nowhere else; URLs are shown by host. Endpoints
hear every shop's events unless filtered, so managing them needs a key for all shops.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from cancelq.api.apikeys import ApiKey
from cancelq.api.auth import all_shops, require
from cancelq.api.context import api_of
from cancelq.api.models import WebhookIn, WebhookList, WebhookOut, WebhookReplayIn, WebhookReplayOut, WebhookTestOut
from cancelq.api.problems import Problem, documented
from cancelq.delivery import operations
from cancelq.delivery.endpoints import Endpoint, EndpointError, Endpoints
from cancelq.delivery.service import endpoints_of

router = APIRouter(tags=["webhooks"])
ERRORS = documented(400, 401, 403, 404, 422, 429, 503)


def manager(request: Request, key: ApiKey = Depends(require("webhooks:manage"))) -> Endpoints:
    all_shops(key, "managing webhook endpoints")
    return endpoints_of(api_of(request).rt)


def _out(endpoint: Endpoint, *, secret: bool = False) -> WebhookOut:
    return WebhookOut(**endpoint.shown(), secret=endpoint.secret if secret else None)


def _get(store: Endpoints, endpoint_id: str) -> Endpoint:
    endpoint = store.find(endpoint_id) if len(endpoint_id) <= 64 else None
    if endpoint is None:
        raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id[:64]}")
    return endpoint


@router.post("/v1/webhooks", status_code=201, response_model=WebhookOut, responses=ERRORS)
def create(body: WebhookIn, response: Response, store: Endpoints = Depends(manager)) -> WebhookOut:
    """A new endpoint; its ``secret`` (whsec_...) is in this answer only."""
    try:
        endpoint = store.add(body.url, events=body.events, shops=body.shops, source=body.source)
    except EndpointError as exc:
        detail = str(exc).replace("--events ", "events ").replace("--shop ", "shops ")
        raise Problem(422, "invalid-webhook", detail) from None
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    return _out(endpoint, secret=True)


@router.get("/v1/webhooks", response_model=WebhookList, responses=ERRORS)
def list_endpoints(store: Endpoints = Depends(manager)) -> WebhookList:
    return WebhookList(endpoints=[_out(e) for e in store.all()])


@router.get("/v1/webhooks/{endpoint_id}", response_model=WebhookOut, responses=ERRORS)
def show(endpoint_id: str, store: Endpoints = Depends(manager)) -> WebhookOut:
    return _out(_get(store, endpoint_id))


@router.post("/v1/webhooks/{endpoint_id}/rotate", response_model=WebhookOut, responses=ERRORS)
def rotate(endpoint_id: str, store: Endpoints = Depends(manager)) -> WebhookOut:
    """A new secret, in this answer only; the old one also signs for ``webhook_secret_grace_s``."""
    _get(store, endpoint_id)
    return _out(store.rotate(endpoint_id), secret=True)


@router.post("/v1/webhooks/{endpoint_id}/disable", response_model=WebhookOut, responses=ERRORS)
def disable(endpoint_id: str, store: Endpoints = Depends(manager)) -> WebhookOut:
    _get(store, endpoint_id)
    store.disable(endpoint_id, "disabled through the API")
    return _out(_get(store, endpoint_id))


@router.post("/v1/webhooks/{endpoint_id}/enable", response_model=WebhookOut, responses=ERRORS)
def enable(endpoint_id: str, store: Endpoints = Depends(manager)) -> WebhookOut:
    _get(store, endpoint_id)
    return _out(store.enable(endpoint_id))


@router.post("/v1/webhooks/{endpoint_id}/test", response_model=WebhookTestOut, responses=ERRORS)
def send_test(request: Request, endpoint_id: str, store: Endpoints = Depends(manager)) -> WebhookTestOut:
    """Send a signed ``webhook.test`` event to the endpoint now; the attempt is kept in its log."""
    outcome = operations.send_test(api_of(request).rt, _get(store, endpoint_id))
    return WebhookTestOut(ok=outcome.ok, status=outcome.status, error=outcome.error,
                          latency_ms=round(outcome.latency_ms, 1))


@router.post("/v1/webhooks/{endpoint_id}/replay", response_model=WebhookReplayOut, responses=ERRORS)
def replay(request: Request, endpoint_id: str, body: WebhookReplayIn,
           store: Endpoints = Depends(manager)) -> WebhookReplayOut:
    """Send events again (the same ``webhook-id``) through the workers' durable queue."""
    rt, endpoint = api_of(request).rt, _get(store, endpoint_id)
    if (body.since_ms is None) == (body.event is None):
        raise Problem(422, "invalid-replay", "give exactly one of since_ms or event")
    if body.event is not None:
        if not operations.replay_event(rt, endpoint, body.event):
            raise Problem(404, "not-found", f"no event {body.event} in the stream (events are kept "
                          f"{rt.settings.events_retention_s / 86400:g} days)")
        return WebhookReplayOut(queued=1)
    return WebhookReplayOut(queued=operations.replay_since(rt, endpoint, int(body.since_ms or 0)))


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, responses=ERRORS)
def delete(endpoint_id: str, store: Endpoints = Depends(manager)) -> Response:
    _get(store, endpoint_id)
    store.remove(endpoint_id)
    return Response(status_code=204)
