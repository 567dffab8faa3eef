"""Schedules as celery beat entries, the period each run covers, and files deleted after retention."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEntry
from apps.reports import selectors, services
from apps.reports.errors import ReportBusy, ReportExpired, ReportNotAllowed
from apps.reports.models import Frequency, ReportKind, ReportRun, ReportSchedule, RunStatus
from apps.reports.parameters import ReportParameters, period_ended
from apps.reports.storage import reports_storage
from tests.reports.conftest import csv_rows
from tests.reports.factories import PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db


def daily_refunds(manager, **changes) -> ReportSchedule:
    values = {
        "manager": manager,
        "name": "Refunds of yesterday",
        "kind": ReportKind.REFUNDS,
        "frequency": Frequency.DAILY,
        "time_of_day": time(6, 0),
        "timezone_name": "Europe/Berlin",
    }
    return services.create_schedule(**(values | changes))


def test_a_schedule_is_a_beat_entry_at_its_time_in_its_timezone(manager):
    schedule = daily_refunds(manager, currencies=["EUR"])
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "apps.reports.tasks.run_scheduled_report"
    assert json.loads(task.kwargs) == {"schedule_id": schedule.pk}
    assert task.enabled
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month) == (
        "0",
        "6",
        "*",
        "*",
    )
    assert str(crontab.timezone) == "Europe/Berlin"
    weekly = daily_refunds(manager, name="Weekly", frequency=Frequency.WEEKLY)
    assert weekly.periodic_task.crontab.day_of_week == "1"
    entry = AuditEntry.objects.get(action="report.schedule.create", target_id=str(schedule.pk))
    assert (entry.actor_name, entry.params["currencies"]) == (manager.email, ["EUR"])


def test_pausing_resuming_and_deleting_are_recorded_and_reach_beat(manager, other_manager):
    schedule = daily_refunds(manager)
    services.pause_schedule(manager=other_manager, schedule_id=schedule.pk, paused=True)
    assert not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert services.start_scheduled_run(schedule_id=schedule.pk) is None  # paused: no run
    services.pause_schedule(manager=manager, schedule_id=schedule.pk, paused=False)
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    run = services.start_scheduled_run(schedule_id=schedule.pk)
    services.delete_schedule(manager=manager, schedule_id=schedule.pk)
    assert not ReportSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="apps.reports.tasks.run_scheduled_report").exists()
    run.refresh_from_db()
    assert run.schedule is None  # the run it made stays
    actions = list(
        AuditEntry.objects.filter(action__startswith="report.schedule.")
        .order_by("sequence")
        .values_list("action", "actor_name")
    )
    assert actions == [
        ("report.schedule.create", manager.email),
        ("report.schedule.pause", other_manager.email),
        ("report.schedule.resume", manager.email),
        ("report.schedule.delete", manager.email),
    ]


def test_only_managers_keep_schedules_and_refusals_are_recorded(auditor, agent, manager):
    for person in (auditor, agent):
        with pytest.raises(ReportNotAllowed):
            daily_refunds(person)
    with pytest.raises(ReportNotAllowed):
        daily_refunds(manager, kind=ReportKind.ACTION_LOG)
    assert not ReportSchedule.objects.exists()
    refused = AuditEntry.objects.filter(action="report.schedule.create", outcome="rejected")
    assert refused.count() == 3


def test_a_scheduled_run_reports_on_yesterday_in_the_schedules_timezone(manager):
    schedule = daily_refunds(manager)
    berlin_morning = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    yesterdays = RefundFactory(created_at=datetime(2026, 11, 24, 12, tzinfo=UTC))
    RefundFactory(created_at=datetime(2026, 11, 23, 22, 59, tzinfo=UTC))  # 23:59 Berlin, day before
    RefundFactory(created_at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC))  # midnight Berlin: today

    run = services.start_scheduled_run(schedule_id=schedule.pk, now=berlin_morning)

    parameters = ReportParameters.from_json(run.parameters)
    assert parameters.start == datetime(2026, 11, 23, 23, tzinfo=UTC)
    assert parameters.end == datetime(2026, 11, 24, 23, tzinfo=UTC)
    assert (run.requested_by, run.schedule) == (manager, schedule)
    assert run.requester == f"{manager.display_name} (schedule “Refunds of yesterday”)"
    run = services.generate_report(run_id=run.pk)
    assert [r["refund_id"] for r in csv_rows(run)] == [str(yesterdays.refund_id)]
    assert run.csv_name.endswith("refunds-2026-11-24.csv")
    entry = AuditEntry.objects.get(action="report.request", target_id=str(run.pk))
    assert entry.actor_name == f"schedule:{schedule.pk}"


@pytest.mark.parametrize(
    ("frequency", "today", "first", "end"),
    [
        (Frequency.DAILY, date(2026, 3, 1), date(2026, 2, 28), date(2026, 3, 1)),
        (Frequency.WEEKLY, date(2026, 11, 23), date(2026, 11, 16), date(2026, 11, 23)),
        (Frequency.MONTHLY, date(2026, 1, 1), date(2025, 12, 1), date(2026, 1, 1)),
    ],
)
def test_the_period_just_ended(frequency, today, first, end):
    zone = ZoneInfo("America/New_York")
    now = datetime.combine(today, time(6), tzinfo=zone)
    start, stop = period_ended(frequency=frequency, timezone="America/New_York", now=now)
    assert start == datetime.combine(first, time(), tzinfo=zone)
    assert stop == datetime.combine(end, time(), tzinfo=zone)


def test_files_are_deleted_after_retention_and_the_run_says_so(settings, manager):
    settings.REPORTS_RETENTION_DAYS = 7
    PaymentFactory(created_at=datetime(2026, 11, 1, 1, tzinfo=UTC))
    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    run = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, with_xlsx=True, requester=manager
    )
    run = services.generate_report(run_id=run.pk)
    assert run.expires_at - run.created_at == timedelta(days=7)
    storage = reports_storage()
    assert storage.exists(run.csv_name)
    assert storage.exists(run.xlsx_name)

    assert services.delete_expired_reports(now=timezone.now() + timedelta(days=6)) == 0
    assert services.delete_expired_reports(now=timezone.now() + timedelta(days=7, seconds=1)) == 1
    assert not storage.exists(run.csv_name)
    assert not storage.exists(run.xlsx_name)
    run.refresh_from_db()
    assert run.is_expired
    assert run.status == RunStatus.DONE
    with pytest.raises(ReportExpired):
        services.download_report(run=run, file_format="csv", downloader=manager)
    expire = AuditEntry.objects.get(action="report.expire")
    assert expire.params["runs"] == [str(run.pk)]


def test_a_run_whose_worker_died_is_failed_by_the_clean_up(settings, manager):
    settings.REPORTS_TASK_TIME_LIMIT = 60
    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    run = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, requester=manager
    )
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert services.fail_stalled_runs() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "stopped" in run.failure_reason


def test_one_build_at_a_time_and_a_dead_builds_run_is_taken_over(manager):
    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    run = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, requester=manager
    )
    alive = timezone.now() - timedelta(seconds=30)
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat_at=alive)
    with pytest.raises(ReportBusy):
        services.generate_report(run_id=run.pk)  # a duplicate task while the build is alive
    dead = timezone.now() - services.BUILD_ALIVE - timedelta(seconds=1)
    ReportRun.objects.filter(pk=run.pk).update(heartbeat_at=dead)
    assert services.generate_report(run_id=run.pk).status == RunStatus.DONE


def test_runs_left_queued_are_found_to_send_again(manager):
    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    old = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, requester=manager
    )
    services.request_report(kind=ReportKind.PAYMENTS, parameters=parameters, requester=manager)
    ReportRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert selectors.runs_queued_before(timezone.now() - timedelta(minutes=15)) == [old.pk]
