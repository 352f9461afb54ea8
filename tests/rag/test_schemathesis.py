"""Property-based tests over the RAG API's OpenAPI schema, sent to the running Space with API_KEY
set (short answers, RAG_MAX_TOKENS=16): with the key, never a 5xx and every answer as its schema
says (status and body); without it, every keyed operation answers its documented 401.

The LLM-bound operations (/ask, /ask/stream) get a few generated examples and no coverage phase
(its few dozen boundary cases per operation, several of which would each wait for the LLM), so that
the run stays quick; /search takes the same fields and gets the full treatment, and
test_bad_inputs.py sends /ask its boundary cases.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rag.conftest import TEST_KEY
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from rag_app.api import create_app
from rag_app.schemas import ErrorOut

pytestmark = pytest.mark.slow
OPENAPI = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
LLM = "^/ask"  # /ask and /ask/stream
NO_COVERAGE = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
llm_schema = schemathesis.openapi.from_dict(OPENAPI, config=NO_COVERAGE).include(path_regex=LLM)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
OPEN = {"/health", "/ready"}  # never keyed
QUICK = settings(deadline=None, suppress_health_check=list(HealthCheck))


def call_with_key(case: schemathesis.Case, url: str) -> None:
    headers = {"X-API-Key": TEST_KEY}
    response = case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=60)
    assert response.status_code != 401


@schema.exclude(path_regex=LLM).parametrize()
@settings(QUICK, max_examples=25)
def test_with_the_key_answers_match_their_schemas(case: schemathesis.Case, keyed_url: str) -> None:
    call_with_key(case, keyed_url)


@llm_schema.parametrize()
@settings(QUICK, max_examples=8)
def test_with_the_key_llm_answers_match_their_schemas(
    case: schemathesis.Case, keyed_url: str
) -> None:
    call_with_key(case, keyed_url)


@schema.parametrize()
@settings(QUICK, max_examples=3)
def test_without_the_key_every_keyed_route_is_401(case: schemathesis.Case, keyed_url: str) -> None:
    response = case.call_and_validate(base_url=keyed_url, checks=CHECKS, timeout=60)
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
