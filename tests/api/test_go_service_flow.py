"""A Go service's whole errand over real HTTP, with a real Celery worker on RabbitMQ building the files.

Also: a manager's schedule reaches celery beat (django-celery-beat's
DatabaseScheduler, which keeps the static entries too) and its run is built
by the worker and downloaded.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.reports import services
from apps.reports.models import Frequency, ReportKind, ReportRun, RunStatus
from tests.api.conftest import LEDGER_TOKEN
from tests.conftest import ARTIFACTS
from tests.events.conftest import start_worker, wait_until
from tests.reports.factories import PaymentFactory, RefundFactory

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


@contextmanager
def running_worker(bus, report_files, *, beat: bool):
    """A real ``celery -A portal worker``, writing reports where this test reads them."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"reports-worker-{uuid.uuid4().hex[:6]}.log"
    process = start_worker(
        bus,
        log_path=log,
        extra_env={"MEDIA_ROOT": str(report_files.parent), "EVENTS_INTAKE_ENABLED": "false"},
        beat=beat,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            # Its work is done and acknowledged; a clean shutdown would only cost ~7 s.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture
def worker(bus, report_files):
    with running_worker(bus, report_files, beat=False) as process:
        yield process


@pytest.fixture
def worker_with_beat(bus, report_files):
    with running_worker(bus, report_files, beat=True) as process:
        yield process


def test_a_go_service_asks_polls_and_downloads(live_server, worker):
    november = [
        PaymentFactory(created_at=datetime(2026, 11, 1, h, tzinfo=UTC), currency="JPY")
        for h in (1, 2, 3)
    ]
    PaymentFactory(created_at=datetime(2026, 11, 1, 4, tzinfo=UTC), currency="EUR")
    api = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {LEDGER_TOKEN}"}, timeout=10
    )

    asked = api.post(
        "/api/v1/report-runs/",
        json={
            "kind": "payments",
            "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-02T00:00:00Z",
            "currencies": ["JPY"],
            "xlsx": True,
        },
    )
    assert asked.status_code == 202
    status_url = asked.headers["Location"]

    def done() -> bool:
        return api.get(status_url).json()["status"] in {"done", "failed"}

    wait_until(done, timeout=60, interval=0.5)
    run = api.get(status_url).json()
    assert (run["status"], run["row_count"], run["progress"]) == ("done", 3, 100)
    assert [f["format"] for f in run["files"]] == ["csv", "xlsx"]

    download = api.get(run["files"][0]["download_url"])
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["payment_id"] for r in rows] == [str(p.payment_id) for p in november]
    xlsx = api.get(run["files"][1]["download_url"])
    assert xlsx.content[:2] == b"PK"  # a zip, as every XLSX
    assert int(xlsx.headers["Content-Length"]) == run["files"][1]["size"]

    wrong = httpx.get(
        live_server.url + status_url,
        headers={"Authorization": "Bearer wrong-token-0123456789abcdefghijklmn"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "authentication_failed"


def test_a_managers_daily_schedule_runs_through_beat_and_the_worker(
    manager_client, manager, worker_with_beat
):
    # DatabaseScheduler syncs the settings' static entries into the database at start.
    wait_until(lambda: PeriodicTask.objects.filter(name="reports-clean-up").exists(), timeout=60)
    assert PeriodicTask.objects.filter(name="approvals-dispatch-due-calls").exists()

    refund = RefundFactory(created_at=timezone.now() - timedelta(days=1))
    RefundFactory(created_at=timezone.now() - timedelta(days=3))
    schedule = services.create_schedule(
        manager=manager,
        name="Refunds of yesterday",
        kind=ReportKind.REFUNDS,
        frequency=Frequency.DAILY,
        time_of_day=time(6, 0),
        timezone_name="UTC",
    )
    # Beat would start it tomorrow at 06:00; make its entry due every 2 seconds instead.
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    entry.interval, _ = IntervalSchedule.objects.get_or_create(
        every=2, period=IntervalSchedule.SECONDS
    )
    entry.crontab = None
    entry.save()

    def built() -> bool:
        return ReportRun.objects.filter(schedule=schedule, status=RunStatus.DONE).exists()

    wait_until(built, timeout=60, interval=0.5)
    services.pause_schedule(manager=manager, schedule_id=schedule.pk, paused=True)
    run = ReportRun.objects.filter(schedule=schedule, status=RunStatus.DONE).first()
    assert run.requested_by == manager
    page = manager_client.get("/reports/").content.decode()
    assert f"/reports/{run.pk}/files/csv/" in page
    download = manager_client.get(f"/reports/{run.pk}/files/csv/")
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [r["refund_id"] for r in rows] == [str(refund.refund_id)]
