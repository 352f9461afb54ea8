"""Property-based tests over the API's OpenAPI schema, sent to the running Space: never a 5xx,
every answer as its schema says (status and body), open or with an API key set; with a key set
and none sent, every keyed operation answers its documented 401."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from iris.conftest import TEST_KEY
from schema_checks import (
    CHECKS,
    QUICK,
    assert_keyed_operations_document_401,
    call_with_key,
    call_without_key,
)

from iris_app.api import create_app
from iris_app.security import ErrorOut

pytestmark = pytest.mark.slow
OPENAPI = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


@schema.parametrize()
@settings(QUICK, max_examples=60)
def test_open_api_no_input_makes_a_server_error(case: schemathesis.Case, space_url: str) -> None:
    case.call_and_validate(base_url=space_url, checks=CHECKS, timeout=10)


@schema.parametrize()
@settings(QUICK, max_examples=10)
def test_with_the_key_answers_match_their_schemas(
    case: schemathesis.Case, keyed_space_url: str
) -> None:
    call_with_key(case, keyed_space_url, {"Authorization": f"Bearer {TEST_KEY}"}, timeout=10)


@schema.parametrize()
@settings(QUICK, max_examples=3)
def test_without_the_key_every_keyed_route_is_401(
    case: schemathesis.Case, keyed_space_url: str
) -> None:
    call_without_key(case, keyed_space_url, timeout=10)


def test_every_keyed_operation_documents_its_401_with_the_error_body() -> None:
    assert_keyed_operations_document_401(OPENAPI, ErrorOut)
