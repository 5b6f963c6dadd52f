"""schemathesis against cwsim with ConnectWise's billing subset schema.

Every operation cwsim serves is called with generated data (valid per the schema, plus
schemathesis' own edge cases) and must never answer a 5xx that was not injected, and every
answer must match the schema (status-code conformance is left out: ConnectWise's schema documents
no 4xx at all, so every refusal would count against it). A second run injects 10 % 500s and
accepts only those.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from tests.conftest import CW_HEADERS
from tests.cwsim.conftest import BASIC
from tests.support.api_cases import OperationCases
from tests.support.contract import SHARED, _adjusted, trim_document
from tests.support.depth import examples

from cwsim.app import create_app
from cwsim.faults import FaultRule
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings

SERVED = (
    "/company/companies",
    "/company/configurations",
    "/finance/agreements",
    "/procurement/catalog",
)
UNSERVED = ("managedDevicesIntegrations", "management", "/finance/agreements/{parentId}/configurations")


def _served_paths() -> dict[str, Any]:
    if not (SHARED / "connectwise" / "manage-billing-subset.openapi.json").exists():
        return {"openapi": "3.0.1", "info": {"title": "missing", "version": "0"}, "paths": {}}
    document = _adjusted(trim_document())
    document["servers"] = [{"url": "http://127.0.0.1/v4_6_release/apis/3.0"}]
    document["paths"] = {
        path: item
        for path, item in document["paths"].items()
        if path.startswith(SERVED) and not any(part in path for part in UNSERVED)
    }
    return document


cases = OperationCases(_served_paths())
schema = cases.schema
SIM = Simulator.create(SimSettings(rate_limit_per_minute=0), seed=11)
APP = create_app(SIM)


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    SIM.reset()
    SIM.state.settings.rate_limit_per_minute = 0
    SIM.limiter.configure(0)
    load_scenario(SIM, BASIC)


def _not_an_uninjected_server_error(response: Any) -> None:
    if response.status_code >= 500:
        body = json.loads(response.content or b"{}")
        assert body.get("code") == "InjectedFault", f"cwsim answered {response.status_code}: {response.content[:300]!r}"


def _checks(case: Any) -> list[Any]:
    """A ``fields=`` answer is partial by design, so it cannot hold the schema's required properties."""
    if case.query and any(str(key).lower() == "fields" and value for key, value in case.query.items()):
        return [content_type_conformance]
    return [response_schema_conformance, content_type_conformance]


@pytest.mark.slow
@cases.parametrize()
@settings(max_examples=examples(25), suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_no_schema_violations(case: Any) -> None:
    case.call_and_validate(app=APP, headers=CW_HEADERS, checks=[not_a_server_error, *_checks(case)])


@pytest.mark.slow
@cases.parametrize()
@settings(max_examples=examples(8), suppress_health_check=list(HealthCheck))
def test_only_injected_faults_under_ten_percent_500s(case: Any) -> None:
    SIM.faults.configure(5, [FaultRule(error_ratio=0.1)])
    response = case.call(app=APP, headers=CW_HEADERS)
    _not_an_uninjected_server_error(response)
    if response.status_code < 500:
        case.validate_response(response, checks=_checks(case))


def test_the_schema_covers_the_served_operations() -> None:
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    assert "POST /finance/agreements/{parentId}/additions" in operations
    assert "PATCH /company/companies/{id}" in operations
    assert len(operations) >= 30
