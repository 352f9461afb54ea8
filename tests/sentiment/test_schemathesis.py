"""Property-based requests generated from /openapi.json against the real server: no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="session")
def api_schema(api_server: str):
    return schemathesis.openapi.from_url(f"{api_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
