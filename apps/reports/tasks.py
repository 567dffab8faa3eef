"""Celery tasks for reports. Thin: each calls one service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.reports import selectors, services
from apps.reports.errors import ReportBusy
from portal.request_id import bind_request_id, reset_request_id


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=None,
    soft_time_limit=settings.REPORTS_TASK_TIME_LIMIT,
    time_limit=settings.REPORTS_TASK_TIME_LIMIT + 60,
)
def build_report(self, run_id: str, request_id: str = "") -> str:
    """Build one run's files; the request that asked for it is in every log line and entry."""
    token = bind_request_id(request_id or None)
    try:
        return services.generate_report(run_id=run_id).status
    except ReportBusy:
        # Another worker is on it; come back when it has finished or is taken for dead.
        raise self.retry(countdown=60) from None
    finally:
        reset_request_id(token)


@shared_task(ignore_result=True)
def run_scheduled_report(schedule_id: int) -> str | None:
    """Started by celery beat from a manager's schedule (django-celery-beat)."""
    run = services.start_scheduled_run(schedule_id=schedule_id)
    return str(run.pk) if run else None


@shared_task(ignore_result=True)
def clean_up_reports() -> dict[str, int]:
    """Beat, every 15 minutes: delete expired files, fail runs whose worker died, and send
    again the task of runs still queued after 15 minutes (lost with a broker outage)."""
    waiting = selectors.runs_queued_before(timezone.now() - timedelta(minutes=15))
    for run_id in waiting:
        build_report.delay(str(run_id))
    return {
        "expired": services.delete_expired_reports(),
        "stalled": services.fail_stalled_runs(),
        "queued_again": len(waiting),
    }
