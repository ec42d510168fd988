"""Fixtures of the push receiver tests: a runtime whose public push URL is the vectors', the kits' shops in the
registry (Lazada's with its seller id), the API served over real HTTP, a client without any API key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from cancelq.runtime import Runtime
from tests.api.server import ApiServer
from tests.kits.lazada import SELLER_ID
from tests.pushes.receiving.kits import KITS

PUBLIC_URL = "https://cancelq.example.com"
VECTORS: dict[str, Any] = json.loads((Path(__file__).parents[2] / "data" / "push_vectors.json").read_text())


def make_runtime(**overrides: Any) -> Runtime:
    update = {"push_public_url": PUBLIC_URL, "api_key_cache_s": 0.0, **overrides}
    return Runtime(settings=Runtime().settings.model_copy(update=update))


def credentials(platform: str) -> dict[str, Any]:
    """The kit's credentials as the registry keeps them (Lazada's with ``seller_id``, what its pushes name)."""
    creds = dict(KITS[platform].credentials)
    if platform == "lazada":
        creds["seller_id"] = SELLER_ID
    return creds


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = make_runtime()
    yield runtime
    runtime.session.close()


@pytest.fixture()
def push_shops(rt: Runtime) -> dict[str, str]:
    """The four kits' shops in the registry: platform -> shop name."""
    names = {}
    for platform in KITS:
        names[platform] = f"{platform}-push-shop"
        rt.shops.add(platform, names[platform], credentials(platform))
    return names


@pytest.fixture()
def server(rt: Runtime) -> Iterator[ApiServer]:
    with ApiServer(rt) as running:
        yield running


@pytest.fixture()
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
