"""Schemathesis against the live API, generated from its own OpenAPI schema: never a 5xx, answers as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection]


def test_every_operation_keeps_its_schema_under_generated_input(stack) -> None:
    # Loaded from the running server, as a client would; schemathesis's pytest plugin does not run on pytest 9 yet,
    # so each operation's strategy is driven by hypothesis directly.
    schema = schemathesis.openapi.from_url(stack.web_url + "/api/schema/?format=json")
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            case.call_and_validate(checks=CHECKS)

        call()
    assert {"POST /api/classifications", "GET /api/classifications", "GET /api/classifications/{request_id}"} <= set(
        tried
    )
