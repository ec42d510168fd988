"""The HTTP boundary: bounded answers (nesting, size) over real HTTP from a local server, and the timeouts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cancelq.platforms.base import CancelRequest
from cancelq.platforms.bodies import MAX_JSON_DEPTH, json_depth, read_json
from cancelq.platforms.errors import PlatformError, TransientError
from cancelq.platforms.http import HttpClient, Timeouts
from cancelq.platforms.reasons import Reason
from cancelq.platforms.registry import build_adapter
from tests.kits import Kit
from tests.kits.lazada import KIT as LAZADA
from tests.kits.shopee import KIT as SHOPEE
from tests.kits.shoplazza import KIT as SHOPLAZZA
from tests.kits.shopline import KIT as SHOPLINE

DEEP = 50_000
BODIES: dict[str, bytes] = {
    "/deep-list": ("[" * DEEP + "]" * DEEP).encode(),
    "/deep-object": ('{"a":' * DEEP + "1" + "}" * DEEP).encode(),
    "/at-the-bound": ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode(),
    "/brackets-in-strings": json.dumps({"note": "[" * 500 + "{" * 500, "items": [[1], [2]]}).encode(),
    "/large": json.dumps({"padding": "x" * 20_000}).encode(),
}


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # unread, it would reset the connection
        path = self.path.split("?")[0]
        body = BODIES.get(path, BODIES["/deep-list"])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(session: requests.Session, **kwargs: int) -> HttpClient:
    return HttpClient(platform="test", session=session, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/deep-list", "/deep-object"])
def test_a_50000_deep_answer_is_an_unreadable_body(server_url: str, http_session: requests.Session,
                                                   path: str) -> None:
    reply = _client(http_session).request("GET", server_url + path, step="s", api="a")
    assert reply.status == 200 and reply.body is None
    assert reply.body_error is not None and f"nested deeper than {MAX_JSON_DEPTH}" in reply.body_error


def test_answers_within_the_bounds_parse(server_url: str, http_session: requests.Session) -> None:
    client = _client(http_session)
    bound = client.request("GET", server_url + "/at-the-bound", step="s", api="a")
    assert bound.body_error is None and json_depth(json.dumps(bound.body)) == MAX_JSON_DEPTH
    strings = client.request("GET", server_url + "/brackets-in-strings", step="s", api="a")
    assert strings.body_error is None and strings.body["items"] == [[1], [2]]


def test_an_answer_over_the_size_bound_is_an_unreadable_body(server_url: str,
                                                             http_session: requests.Session) -> None:
    small = _client(http_session, max_body_bytes=10_000)
    reply = small.request("GET", server_url + "/large", step="s", api="a")
    assert reply.body is None and reply.body_error is not None and "larger than 10000 bytes" in reply.body_error
    whole = _client(http_session).request("GET", server_url + "/large", step="s", api="a")
    assert whole.body_error is None and len(whole.body["padding"]) == 20_000


@pytest.mark.parametrize("kit", [SHOPEE, LAZADA, SHOPLINE, SHOPLAZZA], ids=lambda k: k.platform)
def test_no_adapter_lets_a_deep_answer_out_as_recursion_error(kit: Kit, server_url: str,
                                                              http_session: requests.Session) -> None:
    adapter = build_adapter(kit.platform, kit.credentials, base_url=server_url, session=http_session)
    request = CancelRequest(order_id="ORD-1", reason=Reason.CUSTOMER_REQUEST, options=kit.order_options)
    with pytest.raises(PlatformError) as read:
        adapter.read_status(request)
    assert read.value.code == "invalid_body" and read.value.platform == kit.platform
    write = next(spec for spec in adapter.plan(request) if spec.writes)
    state = {"validate": {"order_item_ids": [1], "reason_id": "1"}}
    with pytest.raises(TransientError) as written:
        adapter.run_step(write.name, request, state)
    assert written.value.code == "invalid_body" and written.value.check_status


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth('{"a": "[[[[{{{{", "b": ["\\"]]]]"]}') == 2
    assert json_depth("[]") == 1 and json_depth('"plain"') == 0
    assert read_json('{"a": [1, {"b": "]"}]}') == {"a": [1, {"b": "]"}]}


@pytest.mark.parametrize("values", [(0, 1, 1), (1, -1, 1), (1, 1, 0), (1, 1, float("nan"))])
def test_timeouts_must_be_positive(values: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        Timeouts(*values)
