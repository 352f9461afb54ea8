"""Property-based tests over the API's OpenAPI schema, sent to the running API: never a 5xx,
every answer as its schema says (status and body), open or with an API key set; with a key set
and none sent, every keyed operation answers its documented 401."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sentiment.conftest import TEST_KEY

from sentiment_app.api import create_app
from sentiment_app.schemas import ErrorOut

pytestmark = pytest.mark.slow
OPENAPI = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
OPEN = {"/health", "/ready"}  # never keyed
QUICK = settings(deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@settings(QUICK, max_examples=40)
def test_open_api_no_input_makes_a_server_error(case: schemathesis.Case, api_server: str) -> None:
    case.call_and_validate(base_url=api_server, checks=CHECKS, timeout=30)


@schema.parametrize()
@settings(QUICK, max_examples=10)
def test_with_the_key_answers_match_their_schemas(
    case: schemathesis.Case, keyed_api_server: str
) -> None:
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    response = case.call_and_validate(
        base_url=keyed_api_server, headers=headers, checks=CHECKS, timeout=30
    )
    assert response.status_code != 401


@schema.parametrize()
@settings(QUICK, max_examples=3)
def test_without_the_key_every_keyed_route_is_401(
    case: schemathesis.Case, keyed_api_server: str
) -> None:
    response = case.call_and_validate(base_url=keyed_api_server, checks=CHECKS, timeout=30)
    if case.method.upper() != case.operation.method.upper():
        return  # schemathesis also tries other methods: test_bad_inputs.py has those cases
    if case.path in OPEN:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.json()["message"].startswith("This API needs a key")


def test_every_keyed_operation_documents_its_401_with_the_error_body() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            refused = operation["responses"].get("401")
            if path in OPEN:
                assert refused is None, (method, path)
                continue
            assert refused is not None, (method, path)
            body = refused["content"]["application/json"]["schema"]
            assert body["title"] == ErrorOut.__name__, (method, path)
            assert set(body["properties"]) == {"message", "detail"}, (method, path)
    assert ErrorOut.model_json_schema()["required"] == ["message"]
