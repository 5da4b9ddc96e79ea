"""Property tests of every service's API from its own OpenAPI schema (schemathesis): whatever
a caller sends, the answer is never a server error and documented answers match their schema.

Each generated call carries the credential of a role the route is for (from the access
matrix), with real ids in the world behind it, so generated input reaches the handlers and
not just the role check."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from aviary_devkit.processes import ServiceSet
from tests.integration.test_access import ACCESS
from tests.support import Api, workspace

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Preferred role per route: a tenant's own over the operator's, so scoping code runs too.
PREFERENCE = ("client", "annotator", "reviewer", "vendor_admin", "operator")


def openapi(service: str) -> dict[str, Any]:
    """The schema the service's app serves, built without starting it (no connections)."""
    from shared.runtime import Runtime
    from shared.settings import Settings

    module = importlib.import_module(f"services.{service}.main")
    return dict(module.build_app(Runtime(service, Settings())).openapi())


@pytest.fixture(scope="session")
def role_tokens(services: ServiceSet) -> dict[str, str]:
    api = Api(services)
    ws = workspace(api, images=1)  # real ids exist, so some generated calls reach deep code
    tokens = {
        "client": ws.client.token,
        "annotator": ws.annotators[0],
        "reviewer": ws.reviewer,
        "vendor_admin": api.token(ws.vendor_id, "vendor_admin", "boss"),
        "operator": api.operator,
    }
    api.http.close()
    return tokens


def headers_for(service: str, case: Any, tokens: dict[str, str]) -> dict[str, str]:
    # Methods the route does not have (schemathesis tries those too) borrow another method's.
    rules = [roles for (s, _, path), roles in ACCESS.items() if s == service and path == case.path]
    allowed = ACCESS.get((service, case.method.upper(), case.path), rules[0] if rules else set())
    role = next((r for r in PREFERENCE if r in allowed), "client")
    return {"Authorization": f"Bearer {tokens[role]}"}


def short_waits(case: Any) -> None:
    """A long-poll (`wait_s`) answers only after its wait when there is no work: generated
    waits in range are cut to 0.2 s so the run stays fast. Out-of-range and non-numeric ones
    are kept: they are refused at once."""
    query = case.query or {}
    try:
        wait = float(query["wait_s"])
    except (KeyError, TypeError, ValueError):
        return
    if 0 < wait <= 30:
        query["wait_s"] = min(wait, 0.2)


def fuzz(service: str) -> Any:
    schema = schemathesis.openapi.from_dict(openapi(service))

    @schema.parametrize()
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    def test(case: Any, services: ServiceSet, role_tokens: dict[str, str]) -> None:
        short_waits(case)
        case.call_and_validate(
            base_url=services.url(service),
            headers=headers_for(service, case, role_tokens),
            checks=CHECKS,
        )

    return test


test_ingest_api_never_answers_with_a_server_error = fuzz("ingest")
test_dispatch_api_never_answers_with_a_server_error = fuzz("dispatch")
test_review_api_never_answers_with_a_server_error = fuzz("review")
test_export_api_never_answers_with_a_server_error = fuzz("export")
test_assist_api_never_answers_with_a_server_error = fuzz("assist")
