"""Fixtures of the API tests: a runtime on the test Valkey, the API served over real HTTP, keys, shops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from cancelq.api.apikeys import SCOPES, ApiKeys
from cancelq.runtime import Runtime
from cancelq.sandbox.control import SandboxClient
from tests.campaign_helpers import add_shops

from .server import ApiServer

TEST_SETTINGS: dict[str, Any] = {"api_key_cache_s": 0.0, "api_body_limit_bytes": 256 * 1024,
                                 "api_upload_limit_bytes": 1024 * 1024, "api_key_rate_per_s": 10_000.0,
                                 "api_key_burst": 10_000}


def make_runtime(**overrides: Any) -> Runtime:
    return Runtime(settings=Runtime().settings.model_copy(update={**TEST_SETTINGS, **overrides}))


@pytest.fixture()
def rt(redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = make_runtime()
    yield runtime
    runtime.session.close()


@pytest.fixture()
def shops(rt: Runtime, sandbox: SandboxClient, sandbox_url: str) -> dict[str, str]:
    """The four kits' shops, in the sandbox and the registry: platform -> shop name."""
    return add_shops(rt, sandbox, sandbox_url)


@pytest.fixture()
def server(rt: Runtime) -> Iterator[ApiServer]:
    with ApiServer(rt) as running:
        yield running


@pytest.fixture()
def make_key(rt: Runtime) -> Callable[..., str]:
    """``make_key("erp", scopes=[...], shops=[...])``: a new key's token (every scope by default)."""
    store = ApiKeys(rt.redis)

    def make(name: str = "erp", scopes: list[str] | None = None, shops: list[str] | None = None) -> str:
        return store.create(name, scopes or list(SCOPES), shops or [])[1]

    return make


@pytest.fixture()
def http(server: ApiServer, make_key: Callable[..., str]) -> Iterator[httpx.Client]:
    """A client of the server with a key holding every scope (named "erp")."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {make_key()}"}, timeout=10) as client:
        yield client


def job(platform: str, shops: dict[str, str], order_id: str, **extra: Any) -> dict[str, Any]:
    return {"platform": platform, "shop": shops[platform], "order_id": order_id, "reason": "CUSTOMER_REQUEST",
            **extra}
