"""What every API's schemathesis tests check the same way: the checks, the open paths, the answer
of a keyed API to a request without a key, and the 401 each keyed operation documents."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
OPEN = {"/health", "/ready"}  # never keyed
QUICK = settings(deadline=None, suppress_health_check=list(HealthCheck))


def call_with_key(
    case: schemathesis.Case, url: str, headers: dict[str, str], timeout: float
) -> None:
    """With the key (in `headers`): every answer as documented, and never a 401."""
    response = case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=timeout)
    assert response.status_code != 401


def call_without_key(case: schemathesis.Case, url: str, timeout: float) -> None:
    """Without the key: the open paths answer, every keyed operation is its documented 401."""
    response = case.call_and_validate(base_url=url, checks=CHECKS, timeout=timeout)
    if case.method.upper() != case.operation.method.upper():
        return  # schemathesis also tries other methods: test_bad_inputs.py has those cases
    if case.path in OPEN:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.json()["message"].startswith("This API needs a key")


def assert_keyed_operations_document_401(openapi: dict[str, Any], error: type[BaseModel]) -> None:
    """Every operation but the open ones documents its 401 with the one error body."""
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            refused = operation["responses"].get("401")
            if path in OPEN:
                assert refused is None, (method, path)
                continue
            assert refused is not None, (method, path)
            body = refused["content"]["application/json"]["schema"]
            assert body["title"] == error.__name__, (method, path)
            assert set(body["properties"]) == {"message", "detail"}, (method, path)
    assert error.model_json_schema()["required"] == ["message"]
