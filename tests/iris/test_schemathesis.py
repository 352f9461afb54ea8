"""Property-based tests over the API's OpenAPI schema, sent to the running Space: never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from iris_app.api import create_app

pytestmark = pytest.mark.slow
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: schemathesis.Case, space_url: str) -> None:
    case.call_and_validate(
        base_url=space_url, checks=[schemathesis.checks.not_a_server_error], timeout=10
    )
