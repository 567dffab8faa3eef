"""The API's endpoints as a Go service calls them: report runs, files, refund request statuses."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.approvals import services as approvals
from apps.audit.models import AuditEntry
from apps.reports import services
from apps.reports.models import ReportRun
from tests.api.conftest import ServiceClient, assert_error
from tests.reports.factories import PaymentFactory

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/report-runs/"
A_RUN = {"kind": "payments", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}


def test_times_are_in_utc_whatever_the_display_default(ledger, settings):
    settings.PORTAL_DEFAULT_DISPLAY_TIMEZONE = "Asia/Tokyo"
    body = ledger.post_json(RUNS, A_RUN).json()
    assert body["parameters"]["start"] == "2026-11-01T00:00:00Z"
    assert body["created_at"].endswith("Z")


def test_a_service_asks_for_a_report_and_is_told_where_to_poll(ledger):
    response = ledger.post_json(
        RUNS, A_RUN | {"currencies": ["eur"], "statuses": ["settled"], "xlsx": True}
    )
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == f"{RUNS}{body['id']}/"
    assert body["url"] == response["Location"]
    assert (body["status"], body["progress"], body["files"]) == ("queued", 0, [])
    assert body["parameters"] == {
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-02T00:00:00Z",
        "timezone": "UTC",
        "statuses": ["settled"],
        "currencies": ["EUR"],
    }
    run = ReportRun.objects.get(pk=body["id"])
    assert (run.requested_by_service, run.requested_by, run.with_xlsx) == ("ledger", None, True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-10-01T00:00:00Z"}, "end"),
        ({"kind": "action_log"}, "kind"),  # the auditors' report: not for services
        ({"kind": "refunds", "statuses": ["settled"]}, "statuses"),
        ({"start": "yesterday"}, "start"),
        ({"currencies": ["EURO"]}, "currencies"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"xlsx": "perhaps"}, "xlsx"),
    ],
)
def test_a_request_that_makes_no_report_is_a_400_naming_the_field(ledger, change, field):
    body = assert_error(ledger.post_json(RUNS, A_RUN | change), 400, "invalid")
    assert list(body["fields"]) == [field]
    assert body["message"].startswith("The request is not valid.")
    assert not ReportRun.objects.exists()


def test_bodies_that_are_not_json_are_refused_cleanly(ledger):
    assert_error(ledger.post(RUNS, A_RUN), 415, "unsupported_media_type")  # a form
    broken = ledger.post(RUNS, "{not json", content_type="application/json")
    assert_error(broken, 400, "parse_error")
    assert_error(ledger.post_json(RUNS, ["a", "list"]), 400, "invalid")


def test_a_service_lists_only_its_own_runs_newest_first_in_pages(ledger, payouts):
    mine = [ledger.post_json(RUNS, A_RUN).json()["id"] for _ in range(3)]
    payouts.post_json(RUNS, A_RUN)
    first = ledger.get(RUNS, {"page_size": 2}).json()
    assert [run["id"] for run in first["results"]] == mine[::-1][:2]
    assert first["previous"] is None
    second = ledger.get(first["next"]).json()
    assert [run["id"] for run in second["results"]] == [mine[0]]
    assert second["next"] is None


def test_another_services_run_does_not_exist_for_this_one(ledger, payouts):
    theirs = payouts.post_json(RUNS, A_RUN).json()["id"]
    assert_error(ledger.get(f"{RUNS}{theirs}/"), 404, "not_found")
    assert_error(ledger.get(f"{RUNS}{theirs}/files/csv/"), 404, "not_found")
    assert_error(ledger.get(f"{RUNS}not-a-uuid/"), 404, "not_found")


def test_poll_then_download_and_the_download_is_recorded(ledger):
    PaymentFactory(created_at=datetime(2026, 11, 1, 8, tzinfo=UTC), amount_cents=1999)
    run_id = ledger.post_json(RUNS, A_RUN).json()["id"]
    assert_error(ledger.get(f"{RUNS}{run_id}/files/csv/"), 409, "not_ready")

    services.generate_report(run_id=run_id)
    polled = ledger.get(f"{RUNS}{run_id}/").json()
    assert (polled["status"], polled["progress"], polled["row_count"]) == ("done", 100, 1)
    [file] = polled["files"]
    assert file["format"] == "csv"
    assert file["download_url"] == f"{RUNS}{run_id}/files/csv/"

    response = ledger.get(file["download_url"], HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert int(response["Content-Length"]) == file["size"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["amount"], r["currency"]) for r in rows] == [("19.99", "EUR")]
    entry = AuditEntry.objects.get(action="report.download", outcome="success")
    assert (entry.actor_kind, entry.actor_name, entry.target_id) == ("service", "ledger", run_id)

    assert_error(ledger.get(f"{RUNS}{run_id}/files/xlsx/"), 409, "no_such_file")
    assert_error(ledger.get(f"{RUNS}{run_id}/files/pdf/"), 404, "not_found")
    services.delete_expired_reports(now=timezone.now() + timedelta(days=30))
    assert_error(ledger.get(f"{RUNS}{run_id}/files/csv/"), 410, "expired")
    assert ledger.get(f"{RUNS}{run_id}/").json()["expired"] is True


def test_a_failed_run_says_why(ledger):
    run_id = ledger.post_json(RUNS, A_RUN).json()["id"]
    ReportRun.objects.filter(pk=run_id).update(status="failed", failure_reason="disk full")
    polled = ledger.get(f"{RUNS}{run_id}/").json()
    assert (polled["status"], polled["failure_reason"], polled["files"]) == (
        "failed",
        "disk full",
        [],
    )
    assert_error(ledger.get(f"{RUNS}{run_id}/files/csv/"), 409, "not_ready")


def test_a_refund_requests_status_by_its_reference(ledger, agent, manager):
    payment = PaymentFactory(amount_cents=10_000)
    refund_request = approvals.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=2_550,
        category="other",
        reason="Late",
    )
    url = f"/api/v1/refund-requests/{refund_request.pk}/"
    assert ledger.get(url).json()["status"] == "requested"
    approvals.approve_request(
        approval_request=refund_request,
        approver=manager,
        comment="ok",
        authenticated_at=timezone.now(),
    )
    body = ledger.get(url).json()
    assert body["reference"] == str(refund_request.pk)
    assert (body["status"], body["amount"], body["amount_cents"], body["currency"]) == (
        "approved",
        "25.50",
        2550,
        "EUR",
    )
    assert body["payment_id"] == str(payment.payment_id)
    assert body["decided_at"] is not None
    assert_error(
        ledger.get("/api/v1/refund-requests/00000000-0000-0000-0000-000000000000/"),
        404,
        "not_found",
    )
    assert_error(ledger.post_json(url, {}), 405, "method_not_allowed")


def test_every_other_error_has_the_same_body(ledger, settings):
    assert_error(ledger.delete(RUNS), 405, "method_not_allowed")
    # Content negotiation comes first in DRF: a 406 even before the token is looked at.
    assert_error(ledger.get(RUNS, HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    wrong = ServiceClient("wrong-token-wrong-token-wrong-token-00")
    assert_error(wrong.get(RUNS, HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    assert_error(ledger.get("/api/v1/payments/"), 404, "not_found")
    assert_error(ServiceClient(None).get("/api/v1/payments/"), 401, "not_authenticated")
    settings.SERVICE_API_RATE = "3/minute"
    cache.clear()  # start counting now
    for _ in range(3):
        assert ledger.get(RUNS).status_code == 200
    limited = ledger.get(RUNS)
    assert_error(limited, 429, "throttled")
    assert int(limited["Retry-After"]) > 0


def test_the_schema_is_for_people_with_a_role(client, agent_client):
    assert client.get("/api/schema/").status_code == 302
    schema = agent_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/report-runs/",
        "/api/v1/report-runs/{run_id}/",
        "/api/v1/report-runs/{run_id}/files/{file_format}/",
        "/api/v1/refund-requests/{reference}/",
    }
    assert schema["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"
    error = schema["paths"]["/api/v1/report-runs/"]["post"]["responses"]["401"]
    assert error["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


def test_the_rate_limit_counts_in_the_shared_cache_table_not_in_one_process(ledger, settings):
    """Every web process reads the same counts: they are rows of the database cache table."""
    from django.db import connection

    settings.SERVICE_API_RATE = "2/minute"
    cache.clear()
    assert ledger.get(RUNS).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM portal_cache WHERE cache_key LIKE %s",
            ["%throttle_service_ledger%"],
        )
        assert cursor.fetchone()[0] == 1
    # Another process's cache (a fresh backend object on the same table) sees this one's count.
    from django.core.cache.backends.db import DatabaseCache

    other = DatabaseCache("portal_cache", {})
    assert len(other.get("throttle_service_ledger")) == 1
    assert ledger.get(RUNS).status_code == 200
    assert_error(ledger.get(RUNS), 429, "throttled")
