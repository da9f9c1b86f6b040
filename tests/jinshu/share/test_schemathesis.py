"""schemathesis against the committed OpenAPI spec and a running server: no server error, no
response that breaks the spec (a bounded number of examples per operation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SPEC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_path(SPEC)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(params=["renshe", None], ids=["with_token", "anonymous"])
def caller(request, server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens[request.param]}"} if request.param else {}


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_spec(case, server, caller):
    case.call_and_validate(base_url=server.url, headers=caller, checks=CHECKS)
