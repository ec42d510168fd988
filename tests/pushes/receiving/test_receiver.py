"""The push receiver over real HTTP, against pushes signed by openssl (tests/data/push_vectors.json, made by
tests/data/make_push_vectors.sh): what is kept, what is refused and how, and that refusals keep no secret."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis

from cancelq.core import keys
from cancelq.pushes import counts
from cancelq.pushes.notice import PushNotice
from cancelq.runtime import Runtime
from tests.api.server import ApiServer
from tests.pushes.receiving.conftest import VECTORS, credentials, make_runtime
from tests.pushes.receiving.kits import KITS

PLATFORMS = ("shopee", "lazada", "shopline", "shoplazza")
SECRET_FIELDS = {"shopee": "partner_key", "lazada": "app_secret", "shopline": "app_secret",
                 "shoplazza": "client_secret"}


def post(http: httpx.Client, platform: str, *, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    vector = VECTORS[platform]
    sent = vector["body"].encode() if body is None else body
    return http.post(f"/pushes/{platform}", content=sent, headers=headers or vector["headers"])


def kept(rt: Runtime) -> list[PushNotice]:
    return [PushNotice.from_fields(fields) for _, fields in rt.redis.xrange(keys.PUSHES)]


def rejected(rt: Runtime) -> list[dict[str, Any]]:
    return [dict(fields) for _, fields in rt.redis.xrange(keys.PUSHES_REJECTED)]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_signed_push_is_kept_once_for_its_shop_without_an_api_key(
        platform: str, rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    response = post(http, platform)

    assert response.status_code == 200, response.text
    assert response.content == b"" if platform == "shopee" else response.json() == {"result": "accepted"}
    [notice] = kept(rt)
    vector = VECTORS[platform]
    assert (notice.platform, notice.shop, notice.order_id, notice.status, notice.kind) == (
        platform, push_shops[platform], vector["order_id"], vector["status"], "status")
    assert notice.message_id == vector.get("message_id", notice.message_id) and notice.message_id
    assert notice.pushed_at_ms > 1_700_000_000_000 and notice.received_ms >= notice.pushed_at_ms
    assert rejected(rt) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_replayed_push_is_answered_2xx_and_kept_once(
        platform: str, rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    first, again = post(http, platform), post(http, platform)

    assert (first.status_code, again.status_code) == (200, 200)
    if platform != "shopee":
        assert again.json() == {"result": "duplicate"}
    assert len(kept(rt)) == 1
    totals = counts.read(rt.redis, window_s=600).totals
    assert (totals[(platform, "accepted")], totals[(platform, "duplicate")]) == (1, 1)


def _one_byte_changed(body: bytes) -> bytes:
    at = body.index(b'status":"') + len(b'status":"')
    return body[:at] + bytes([body[at] ^ 0x20]) + body[at + 1:]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_changed_by_one_byte_is_refused_401_and_kept_as_a_rejection_without_its_signature(
        platform: str, rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    vector = VECTORS[platform]
    body = _one_byte_changed(vector["body"].encode())

    response = post(http, platform, body=body)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "bad_signature"
    assert kept(rt) == []
    [record] = rejected(rt)
    signature = vector["headers"][vector["signature_header"]]
    assert record["reason"] == "bad_signature" and record["platform"] == platform
    assert record["size"] == str(len(body)) and record["remote"] == "127.0.0.1" and len(record["body_sha256"]) == 64
    assert signature not in str(record) and credentials(platform)[SECRET_FIELDS[platform]] not in str(record)
    assert signature not in response.text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_push_signed_with_another_secret_is_refused(platform: str, rt: Runtime, http: httpx.Client) -> None:
    creds = credentials(platform)
    creds[SECRET_FIELDS[platform]] = "not-the-secret-the-platform-signs-with"
    rt.shops.add(platform, "other-secret", creds)

    response = post(http, platform)

    assert response.status_code == 401 and response.json()["reason"] == "bad_signature"
    assert kept(rt) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_push_without_its_signature_header_is_refused_as_unsigned(
        platform: str, rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    vector = VECTORS[platform]
    headers = {k: v for k, v in vector["headers"].items() if k != vector["signature_header"]}

    response = post(http, platform, headers=headers)

    assert response.status_code == 401 and response.json()["reason"] == "unsigned"
    assert [r["reason"] for r in rejected(rt)] == ["unsigned"] and kept(rt) == []


def test_shopee_signs_the_configured_callback_url_not_the_host_it_reached(
        redis_client: redis.Redis, push_shops: dict[str, str]) -> None:
    elsewhere = make_runtime(push_public_url="https://another.example.com")
    with ApiServer(elsewhere) as server, httpx.Client(base_url=server.url) as http:
        headers = {**VECTORS["shopee"]["headers"], "Host": "cancelq.example.com"}
        response = post(http, "shopee", headers=headers)

    assert response.status_code == 401 and response.json()["reason"] == "bad_signature"


def test_unknown_shops_platforms_and_bodies_are_refused_404_404_400(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    rt.shops.remove("shopline", push_shops["shopline"])

    unknown_shop = post(http, "shopline")
    unknown_platform = http.post("/pushes/tiktok", content=b"{}")
    not_json = post(http, "lazada", body=b"\x00not json")
    no_order = http.post("/pushes/shopee", content=b'{"shop_id":14701711,"code":3}',
                         headers=VECTORS["shopee"]["headers"])

    assert (unknown_shop.status_code, unknown_shop.json()["reason"]) == (404, "unknown_shop")
    assert (unknown_platform.status_code, unknown_platform.json()["reason"]) == (404, "unknown_platform")
    assert (not_json.status_code, not_json.json()["reason"]) == (400, "unparseable")
    assert no_order.status_code == 401  # its signature is checked before its content
    assert [r["reason"] for r in rejected(rt)] == ["unknown_shop", "unknown_platform", "unparseable", "bad_signature"]
    assert rejected(rt)[0]["claimed"] == "kit-store"


def test_a_verified_push_of_another_kind_is_answered_2xx_and_not_kept(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    vector = VECTORS["shoplazza"]
    headers = {**vector["headers"], "X-Shoplazza-Topic": "products/update"}

    response = post(http, "shoplazza", headers=headers)

    assert response.status_code == 200 and response.json() == {"result": "ignored"}
    assert kept(rt) == []


def test_redis_unreachable_is_answered_503_so_the_platform_retries(push_shops: dict[str, str]) -> None:
    down = Runtime(settings=make_runtime().settings, redis_url="redis://127.0.0.1:1/0")
    with ApiServer(down) as server, httpx.Client(base_url=server.url) as http:
        response = post(http, "lazada")

    assert response.status_code == 503 and response.headers["retry-after"]


def test_the_success_ratio_counts_every_answer_over_the_window(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    post(http, "lazada")
    post(http, "lazada", body=b'{"seller_id":"200001"}')

    read = counts.read(rt.redis, window_s=600)

    assert read.window["lazada"] == (1, 2) and read.success_ratio("lazada") == 0.5
    assert read.success_ratio("shopee") is None


def test_shops_stored_before_the_index_are_found_by_their_push_id(rt: Runtime, http: httpx.Client) -> None:
    rt.shops.add("shopline", "old-shop", credentials("shopline"))
    rt.redis.delete(keys.SHOP_PUSH_REFS, keys.SHOP_PUSH_REFS_BUILT)

    assert post(http, "shopline").status_code == 200
    assert [n.shop for n in kept(rt)] == ["old-shop"]


def test_a_buyer_request_is_kept_as_one(rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    from tests.pushes.receiving.signing import shopee_push

    body, headers = shopee_push(KITS["shopee"], "2411BUYER01", "IN_CANCEL")

    assert http.post("/pushes/shopee", content=body, headers=headers).status_code == 200
    assert [(n.kind, n.status) for n in kept(rt)] == [("buyer_request", "IN_CANCEL")]


def test_without_push_public_url_shopee_pushes_say_why_they_cannot_be_verified(
        redis_client: redis.Redis, push_shops: dict[str, str]) -> None:
    unset = make_runtime(push_public_url="")
    with ApiServer(unset) as server, httpx.Client(base_url=server.url) as http:
        shopee, lazada = post(http, "shopee"), post(http, "lazada")

    assert (shopee.status_code, shopee.json()["reason"]) == (401, "unverifiable")
    assert "push_public_url" in shopee.json()["detail"] and lazada.status_code == 200


def test_a_push_over_the_body_limit_is_refused_413_before_it_is_read(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    response = post(http, "lazada", body=b"{" + b" " * (rt.settings.api_body_limit_bytes + 1) + b"}")

    assert response.status_code == 413 and kept(rt) == []


def test_a_shopee_partner_level_push_is_verified_with_the_apps_key_and_answered_2xx(
        rt: Runtime, push_shops: dict[str, str], http: httpx.Client) -> None:
    from tests.pushes.receiving.signing import shopee_signed

    body = b'{"data":{"shop_id":14701711,"success":1},"code":1,"timestamp":1764590400}'
    good = http.post("/pushes/shopee", content=body, headers=shopee_signed(KITS["shopee"], body))
    forged = http.post("/pushes/shopee", content=body, headers={"Authorization": "0" * 64})

    assert good.status_code == 200 and kept(rt) == []
    assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")
