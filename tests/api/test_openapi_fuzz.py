"""schemathesis fuzzes every operation of the live server's /openapi.json (bounded examples): no 5xx, and every
status code, content type, header and body it answers is the one the document declares."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cancelq.api.app import make_app
from cancelq.runtime import Runtime
from tests.api.server import ApiServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture()
def auth(make_key: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('fuzz')}"}


schemathesis.serializer.alias("application/jsonl", "text/plain")  # a campaign file is text, as CSV is

DOCUMENT = make_app(Runtime()).openapi()
"""The document the server serves (``test_the_served_document_is_the_one_fuzzed`` holds them equal); built at
import, since schemathesis parametrizes at collection: it connects nothing."""
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_and_never_5xx(case: schemathesis.Case, auth: dict[str, str],
                                                             server: ApiServer, shops: dict[str, str]) -> None:
    case.call_and_validate(base_url=server.url, headers=auth, checks=CHECKS)


def test_the_served_document_is_the_one_fuzzed_and_names_the_job_contract_and_problem_json(server: ApiServer) -> None:
    document = httpx.get(server.url + "/openapi.json").json()
    assert document == DOCUMENT
    assert document["components"]["schemas"]["Job"]["required"] == ["platform", "shop", "order_id", "reason"]
    create = document["paths"]["/v1/cancellations"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Job"}
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["type"] == "http"
    assert httpx.get(server.url + "/docs").status_code == 200
