"""The API holds to its OpenAPI schema under fuzzing (schemathesis, in-process through WSGI).

Every operation gets valid and invalid requests, with the token and (by
schemathesis' own checks) without it. No answer may be a 5xx, and every
answer must be documented: status code, content type, body shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.approvals import services as approvals
from apps.reports import services
from apps.reports.models import ReportKind
from apps.reports.parameters import ReportParameters
from tests.api.conftest import LEDGER_TOKEN
from tests.reports.factories import PaymentFactory

pytestmark = pytest.mark.django_db

EXAMPLES = 60
AUTH = {"Authorization": f"Bearer {LEDGER_TOKEN}"}


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, kept on this test's connection and transaction (as the test client)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app, settings):
    settings.SERVICE_API_RATE = "1000000/minute"
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = wsgi_app
    return loaded


def fuzz(operation, mode: GenerationMode, **fixed) -> None:
    # A report's period must end after it starts, within 366 days, between 2000 and 2100: rules
    # across fields that OpenAPI 3.0 cannot state, so a schema-valid body may still be a 400.
    excluded = [positive_data_acceptance] if operation.method.upper() == "POST" else []

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(headers=AUTH, excluded_checks=excluded)

    check()


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_holds_to_the_schema(api_schema, mode):
    found = operations(api_schema)
    assert {op.label for op in found} == {
        "GET /api/v1/report-runs/",
        "POST /api/v1/report-runs/",
        "GET /api/v1/report-runs/{run_id}/",
        "GET /api/v1/report-runs/{run_id}/files/{file_format}/",
        "GET /api/v1/refund-requests/{reference}/",
    }
    for operation in found:
        fuzz(operation, mode)


def test_existing_resources_hold_to_the_schema_too(api_schema, agent):
    """Random ids find nothing; these requests reach real runs, files and refund requests."""
    PaymentFactory(created_at=datetime(2026, 11, 1, 1, tzinfo=UTC))
    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    done = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, with_xlsx=True, service="ledger"
    )
    services.generate_report(run_id=done.pk)
    queued = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, service="ledger"
    )
    refund_request = approvals.request_refund(
        requester=agent,
        payment_id=PaymentFactory().payment_id,
        amount_cents=100,
        category="other",
        reason="Fuzzing",
    )
    for operation in operations(api_schema):
        if "{run_id}" in operation.path:
            for run in (done, queued):
                fuzz(operation, GenerationMode.POSITIVE, path_parameters={"run_id": str(run.pk)})
        elif "{reference}" in operation.path:
            fuzz(
                operation,
                GenerationMode.POSITIVE,
                path_parameters={"reference": str(refund_request.pk)},
            )
