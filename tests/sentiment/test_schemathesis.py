"""Property-based requests generated from the OpenAPI schema, sent to the real server: no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from sentiment_app.api import create_app

pytestmark = pytest.mark.slow
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: schemathesis.Case, api_server: str) -> None:
    case.call_and_validate(
        base_url=api_server, checks=[schemathesis.checks.not_a_server_error], timeout=30
    )
