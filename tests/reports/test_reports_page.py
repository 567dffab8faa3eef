"""The reports page as managers and auditors use it: ask, watch it build, download, schedule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEntry
from apps.reports import services
from apps.reports.models import Frequency, ReportKind, ReportRun, ReportSchedule, RunStatus
from apps.reports.parameters import ReportParameters
from tests.reports.factories import PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def queued_run(person, kind: str = ReportKind.PAYMENTS, **kwargs) -> ReportRun:
    parameters = ReportParameters.build(
        kind=kind,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    return services.request_report(kind=kind, parameters=parameters, requester=person, **kwargs)


def test_managers_and_auditors_open_reports_and_nobody_else(
    client, agent_client, manager_client, auditor_client, no_role_client
):
    for reader in (manager_client, auditor_client):
        assert reader.get("/reports/").status_code == 200
    denied = agent_client.get("/reports/")
    assert denied.status_code == 403
    assert b"have access to this" in denied.content
    assert client.get("/reports/").status_code == 302
    assert no_role_client.get("/reports/")["Location"] == "/no-access/"


def test_navigation_offers_reports_to_managers_and_auditors_only(
    agent_client, manager_client, auditor_client
):
    for person, sees in ((manager_client, True), (auditor_client, True), (agent_client, False)):
        labels = [entry["label"] for entry in person.get("/").context["nav_entries"]]
        assert ("Reports" in labels) is sees


def test_a_manager_asks_for_a_report_and_sees_it_queued(manager_client, manager):
    response = manager_client.post(
        "/reports/request/",
        {"kind": "payments", "first_day": "2026-11-01", "last_day": "2026-11-07", "xlsx": "on"},
    )
    assert response.status_code == 302
    run = ReportRun.objects.get()
    assert (run.kind, run.with_xlsx, run.requested_by) == ("payments", True, manager)
    parameters = ReportParameters.from_json(run.parameters)
    assert parameters.end - parameters.start == timedelta(days=7)
    page = manager_client.get("/reports/").content.decode()
    assert "2026-11-01 to 2026-11-07 (UTC)" in page
    assert f'hx-get="/reports/{run.pk}/"' in page
    assert 'hx-trigger="every 2s"' in page


def test_the_form_explains_what_is_wrong(manager_client, auditor_client):
    response = manager_client.post(
        "/reports/request/",
        {"kind": "refunds", "first_day": "2026-11-07", "last_day": "2026-11-01", "statuses": "x"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select a valid choice. x is not one of the available choices." in page
    bad_order = manager_client.post(
        "/reports/request/",
        {"kind": "refunds", "first_day": "2026-11-07", "last_day": "2026-11-01"},
    )
    assert "The last day must not be before the first day." in bad_order.content.decode()
    # The action log is the auditors' report: managers are not even offered it.
    refused = manager_client.post(
        "/reports/request/",
        {"kind": "action_log", "first_day": "2026-11-01", "last_day": "2026-11-01"},
    )
    assert refused.status_code == 400
    assert "action_log is not one of the available choices" in refused.content.decode()
    assert "Action log extract" in auditor_client.get("/reports/").content.decode()
    assert not ReportRun.objects.exists()


def test_auditors_may_ask_for_reports_it_is_a_read(auditor_client, auditor):
    response = auditor_client.post(
        "/reports/request/",
        {"kind": "action_log", "first_day": "2026-11-01", "last_day": "2026-11-01"},
    )
    assert response.status_code == 302
    assert ReportRun.objects.get().requested_by == auditor


def test_progress_polls_in_place_until_done(manager_client, manager):
    run = queued_run(manager)
    polling = manager_client.get(f"/reports/{run.pk}/", **HTMX)
    fragment = polling.content.decode()
    assert fragment.lstrip().startswith(f'<div class="run-status" id="run-{run.pk}-status"')
    assert 'hx-trigger="every 2s"' in fragment
    assert "queued" in fragment

    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, progress=42, row_count=420, rows_expected=1000
    )
    running = manager_client.get(f"/reports/{run.pk}/", **HTMX).content.decode()
    assert '<progress value="42" max="100"' in running
    assert "420 of 1,000 rows" in running
    assert 'hx-trigger="every 2s"' in running

    PaymentFactory(created_at=datetime(2026, 11, 1, 3, tzinfo=UTC))
    services.generate_report(run_id=run.pk)
    done = manager_client.get(f"/reports/{run.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in done  # finished: the partial comes back without the trigger
    assert "1 row" in done
    assert f'href="/reports/{run.pk}/files/csv/"' in done


def test_a_failed_run_stops_polling_and_says_why(manager_client, manager):
    run = queued_run(manager)
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, failure_reason="The worker building it stopped."
    )
    fragment = manager_client.get(f"/reports/{run.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in fragment
    assert "The worker building it stopped." in fragment
    page = manager_client.get(f"/reports/{run.pk}/")
    assert page.templates[0].name == "reports/run_detail.html"
    assert "failed" in page.content.decode()


def test_downloads_are_role_checked_and_recorded(
    manager_client, auditor_client, agent_client, manager, auditor
):
    PaymentFactory(created_at=datetime(2026, 11, 1, 3, tzinfo=UTC))
    run = queued_run(manager, with_xlsx=True)
    not_yet = manager_client.get(f"/reports/{run.pk}/files/csv/")
    assert not_yet.status_code == 409
    assert "not ready yet" in not_yet.content.decode()
    services.generate_report(run_id=run.pk)

    response = auditor_client.get(f"/reports/{run.pk}/files/csv/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="payments-2026-11-01.csv"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"payment_id,account_id")
    xlsx = manager_client.get(f"/reports/{run.pk}/files/xlsx/")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert agent_client.get(f"/reports/{run.pk}/files/csv/").status_code == 403
    assert manager_client.get(f"/reports/{run.pk}/files/pdf/").status_code == 404

    downloads = AuditEntry.objects.filter(action="report.download", outcome="success")
    assert sorted(downloads.values_list("actor_name", "params__format")) == sorted(
        [(auditor.email, "csv"), (manager.email, "xlsx")]
    )
    assert AuditEntry.objects.filter(action="report.download", outcome="rejected").count() == 1


def test_an_action_log_run_is_the_auditors_alone(manager_client, auditor):
    run = queued_run(auditor, kind=ReportKind.ACTION_LOG)
    assert manager_client.get(f"/reports/{run.pk}/").status_code == 404
    assert str(run.pk) not in manager_client.get("/reports/").content.decode()


def test_an_expired_run_says_its_files_are_gone(manager_client, manager):
    run = services.generate_report(run_id=queued_run(manager).pk)
    services.delete_expired_reports(now=timezone.now() + timedelta(days=30))
    assert "files deleted" in manager_client.get(f"/reports/{run.pk}/", **HTMX).content.decode()
    assert manager_client.get(f"/reports/{run.pk}/files/csv/").status_code == 410


def test_a_manager_schedules_yesterdays_refunds_and_downloads_them(manager_client, manager):
    manager_client.cookies["portal_tz"] = "Europe/Berlin"  # what the browser tells the portal
    response = manager_client.post(
        "/reports/schedules/",
        {
            "name": "Refunds of yesterday",
            "kind": "refunds",
            "frequency": "daily",
            "time_of_day": "06:00",
        },
    )
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert (schedule.timezone, schedule.time_of_day, schedule.frequency) == (
        "Europe/Berlin",
        time(6, 0),
        Frequency.DAILY,
    )
    page = manager_client.get("/reports/").content.decode()
    assert "Refunds of yesterday" in page
    assert "at 06:00 Europe/Berlin" in page

    # Beat starts the task at 06:00 Berlin; here, the same task body at that moment.
    refund = RefundFactory(created_at=timezone.now() - timedelta(days=1))
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.crontab.hour == "6"
    run = services.start_scheduled_run(schedule_id=schedule.pk)
    services.generate_report(run_id=run.pk)
    download = manager_client.get(f"/reports/{run.pk}/files/csv/")
    assert str(refund.refund_id) in b"".join(download.streaming_content).decode()


def test_managers_pause_resume_and_delete_schedules_auditors_cannot(
    manager_client, auditor_client, manager
):
    schedule = services.create_schedule(
        manager=manager,
        name="Weekly payments",
        kind=ReportKind.PAYMENTS,
        frequency=Frequency.WEEKLY,
        time_of_day=time(7, 30),
        timezone_name="UTC",
    )
    assert "Pause" not in auditor_client.get("/reports/").content.decode()
    assert (
        auditor_client.post(f"/reports/schedules/{schedule.pk}/pause/", {"paused": "true"})
    ).status_code == 403
    assert auditor_client.post("/reports/schedules/", {"name": "x"}).status_code == 403

    manager_client.post(f"/reports/schedules/{schedule.pk}/pause/", {"paused": "true"})
    assert "paused" in manager_client.get("/reports/").content.decode()
    assert not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    manager_client.post(f"/reports/schedules/{schedule.pk}/pause/", {"paused": "false"})
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    response = manager_client.post(f"/reports/schedules/{schedule.pk}/delete/")
    assert response["Location"] == "/reports/#schedules"
    assert not ReportSchedule.objects.exists()
    gone = manager_client.post(f"/reports/schedules/{schedule.pk}/delete/", follow=True)
    assert "no longer exists" in gone.content.decode()


def test_a_schedule_form_with_errors_is_shown_again(manager_client):
    response = manager_client.post(
        "/reports/schedules/", {"name": "", "kind": "refunds", "frequency": "hourly"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "This field is required." in page
    assert "hourly is not one of the available choices" in page
    assert not ReportSchedule.objects.exists()


def test_the_page_needs_no_inline_script_or_style(manager_client, manager):
    queued_run(manager)
    page = manager_client.get("/reports/").content.decode()
    assert "<style" not in page
    assert " style=" not in page
    assert "<script>" not in page
    assert "onclick" not in page
