"""``POST /pushes/{platform}``: the platforms' own pushes, authenticated by the platform's signature (no API key).

The raw body is read (bounded by the edge's body limit) and handed to ``pushes.receiver.Receiver``; the answer
comes at once, before any worker acts on the push. Shopee is answered with an empty 2xx body, the others with
``{"result": ...}``; a duplicate is answered 200 like its first delivery (the platform must stop retrying).
Refusals are problem+json: 401 (unsigned, bad signature, or a shop without the secret to check it), 400
(unparseable), 404 (unknown platform or shop). Redis unreachable: 503 with Retry-After, and the platform retries.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cancelq.api.context import api_of
from cancelq.api.problems import documented, problem_response
from cancelq.pushes.receiver import Receiver

router = APIRouter(tags=["pushes"])
EMPTY_ANSWER = frozenset({"shopee"})
"""Platforms that want an empty body in the 2xx."""


def receiver_of(request: Request) -> Receiver:
    state = request.app.state
    receiver: Receiver | None = getattr(state, "push_receiver", None)
    if receiver is None:
        api = api_of(request)
        receiver = Receiver(api.rt.redis, api.rt.shops, push_public_url=api.settings.push_public_url)
        state.push_receiver = receiver
    return receiver


@router.post("/pushes/{platform}", responses={200: {"description": "kept, a duplicate, or not about orders"},
                                              **documented(400, 401, 404, 413, 503)})
async def receive(platform: str, request: Request) -> Response:
    """A platform's push (Shopee, Lazada, Shopline, Shoplazza), verified by its signature over the raw body."""
    body = await request.body()
    remote = request.client.host if request.client else ""
    outcome = await run_in_threadpool(receiver_of(request).receive, platform[:32], dict(request.headers), body,
                                      remote)
    if outcome.result == "rejected":
        return problem_response(request, outcome.status, "push-" + outcome.reason.replace("_", "-"), outcome.detail,
                                reason=outcome.reason)
    if platform in EMPTY_ANSWER:
        return Response(status_code=200)
    return JSONResponse({"result": outcome.result})
