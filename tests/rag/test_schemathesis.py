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
from hypothesis import settings
from rag.conftest import TEST_KEY
from schema_checks import (
    QUICK,
    assert_keyed_operations_document_401,
    call_with_key,
    call_without_key,
)
from schemathesis.config import SchemathesisConfig

from rag_app.api import create_app
from rag_app.security import ErrorOut

pytestmark = pytest.mark.slow
OPENAPI = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
LLM = "^/ask"  # /ask and /ask/stream
NO_COVERAGE = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
llm_schema = schemathesis.openapi.from_dict(OPENAPI, config=NO_COVERAGE).include(path_regex=LLM)
WITH_KEY = {"X-API-Key": TEST_KEY}  # the other header than the Iris and sentiment tests send


@schema.exclude(path_regex=LLM).parametrize()
@settings(QUICK, max_examples=25)
def test_with_the_key_answers_match_their_schemas(case: schemathesis.Case, keyed_url: str) -> None:
    call_with_key(case, keyed_url, WITH_KEY, timeout=60)


@llm_schema.parametrize()
@settings(QUICK, max_examples=8)
def test_with_the_key_llm_answers_match_their_schemas(
    case: schemathesis.Case, keyed_url: str
) -> None:
    call_with_key(case, keyed_url, WITH_KEY, timeout=60)


@schema.parametrize()
@settings(QUICK, max_examples=3)
def test_without_the_key_every_keyed_route_is_401(case: schemathesis.Case, keyed_url: str) -> None:
    call_without_key(case, keyed_url, timeout=60)


def test_every_keyed_operation_documents_its_401_with_the_error_body() -> None:
    assert_keyed_operations_document_401(OPENAPI, ErrorOut)
