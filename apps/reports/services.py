"""The only write paths for reports: asking for one, building it, handing it out, schedules.

A person (manager or auditor), a calling service or a schedule asks for a
report (:func:`request_report`); the run is recorded in the action log in the
same transaction and a Celery task builds it after commit
(:func:`generate_report`): rows are read with a server-side cursor and
written to temporary files (CSV, and XLSX when asked), which are then saved
through ``STORAGES["reports"]``. Every download is recorded. Managers keep
schedules ("refunds of yesterday, every day at 06:00") as celery beat entries
(django-celery-beat). A beat task deletes files past ``REPORTS_RETENTION_DAYS``
and fails runs whose worker died.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic
from typing import IO, Any, NoReturn

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.audit.services import Actor, Outcome, record
from apps.identity.roles import Role
from apps.reports import selectors
from apps.reports.definitions import DEFINITIONS
from apps.reports.errors import (
    ReportBusy,
    ReportError,
    ReportExpired,
    ReportNotAllowed,
    ReportNotReady,
    ScheduleNotFound,
)
from apps.reports.models import (
    FileFormat,
    Frequency,
    ReportKind,
    ReportRun,
    ReportSchedule,
    RunStatus,
)
from apps.reports.parameters import ReportParameters, period_ended
from apps.reports.storage import reports_storage
from apps.reports.writers import CsvReportFile, XlsxReportFile
from portal.request_id import bind_request_id, current_request_id, new_request_id, reset_request_id

logger = logging.getLogger(__name__)

WORKER = Actor.system("report-worker")
SCHEDULED_TASK = "apps.reports.tasks.run_scheduled_report"
# Progress is written at most this often (seconds): one small UPDATE, whatever the size.
PROGRESS_INTERVAL = 1.0
# A build whose heartbeat is older than this is taken for dead (its worker was killed).
BUILD_ALIVE = timedelta(minutes=2)


def _refuse(
    error: ReportError,
    *,
    actor: Actor,
    action: str,
    target_id: str = "",
    params: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> NoReturn:
    """Record the refusal in a transaction of its own, then raise it."""
    with transaction.atomic():
        record(
            action=action,
            actor=actor,
            target_type="report_run",
            target_id=target_id,
            outcome=Outcome.REJECTED,
            params=params,
            reason=error.message,
            request=request,
        )
    raise error


# --- asking for a report ----------------------------------------------------------------


def _actor_for(requester: Any | None, service: str) -> Actor:
    if service:
        return Actor.service(service)
    if requester is None:
        raise ValueError("a report is asked for by a person or a service")
    return Actor.for_user(requester)


def request_report(
    *,
    kind: str,
    parameters: ReportParameters,
    with_xlsx: bool = False,
    requester: Any | None = None,
    service: str = "",
    schedule: ReportSchedule | None = None,
    request: HttpRequest | None = None,
) -> ReportRun:
    """Queue one report run for a person, a service (by name) or a schedule (its owner).

    Raises :class:`ReportNotAllowed` (recorded as rejected) for a kind the asker may not read.
    """
    actor = Actor.system(f"schedule:{schedule.pk}") if schedule else _actor_for(requester, service)
    allowed = (
        selectors.SERVICE_KINDS if service else selectors.kinds_for_user(requester)  # type: ignore[arg-type]
    )
    params = {"kind": kind, "parameters": parameters.to_json(), "xlsx": with_xlsx}
    if kind not in allowed:
        _refuse(
            ReportNotAllowed(
                f"The {ReportKind(kind).label.lower()} report is not available to you.",
                field="kind",
            ),
            actor=actor,
            action="report.request",
            params=params,
            request=request,
        )
    now = timezone.now()
    with transaction.atomic():
        run = ReportRun.objects.create(
            kind=kind,
            parameters=parameters.to_json(),
            with_xlsx=with_xlsx,
            requested_by=requester if not service else None,
            requested_by_service=service,
            schedule=schedule,
            request_id=current_request_id() or "",
            created_at=now,
            expires_at=now + timedelta(days=settings.REPORTS_RETENTION_DAYS),
        )
        record(
            action="report.request",
            actor=actor,
            target_type="report_run",
            target_id=str(run.pk),
            params=params | ({"schedule": schedule.name} if schedule else {}),
            request=request,
        )
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: uuid.UUID) -> None:
    from apps.reports.tasks import build_report

    build_report.delay(str(run_id), request_id=current_request_id() or "")


# --- building it ---------------------------------------------------------------------------


@dataclass
class _Progress:
    run_id: uuid.UUID
    expected: int
    written: int = 0
    last_saved: float = 0.0

    def advance(self) -> None:
        self.written += 1
        now = monotonic()
        if now - self.last_saved >= PROGRESS_INTERVAL:
            self.save(now)

    def save(self, now: float) -> None:
        self.last_saved = now
        percent = min(99, self.written * 100 // self.expected) if self.expected else 0
        ReportRun.objects.filter(pk=self.run_id).update(
            progress=percent, row_count=self.written, heartbeat_at=timezone.now()
        )


def _file_stem(run: ReportRun, parameters: ReportParameters) -> str:
    first, last = parameters.local_days()
    days = first.isoformat() if first == last else f"{first.isoformat()}--{last.isoformat()}"
    return f"{run.kind.replace('_', '-')}-{days}"


def generate_report(*, run_id: uuid.UUID | str) -> ReportRun:
    """Build the run's files (the Celery task's body); a failure fails the run with its reason.

    One build at a time per run: the run is claimed while queued, or while
    "running" with a heartbeat older than ``BUILD_ALIVE`` (its worker died and
    the task was given back); an attempt that finds another build alive raises
    :class:`ReportBusy` (the task retries later). A new claim starts over and
    replaces what an earlier attempt left.
    """
    run = ReportRun.objects.get(pk=run_id)
    if run.is_finished:
        return run
    now = timezone.now()
    claimed = (
        ReportRun.objects.filter(pk=run.pk)
        .filter(
            Q(status=RunStatus.QUEUED)
            | Q(status=RunStatus.RUNNING, heartbeat_at__lt=now - BUILD_ALIVE)
            | Q(status=RunStatus.RUNNING, heartbeat_at__isnull=True)
        )
        .update(status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, progress=0, row_count=0)
    )
    if not claimed:
        run.refresh_from_db()
        if run.is_finished:
            return run
        raise ReportBusy(f"Report run {run.pk} is being built by another worker.")
    definition = DEFINITIONS[run.kind]
    parameters = ReportParameters.from_json(run.parameters)
    try:
        expected = definition.count(parameters)
        ReportRun.objects.filter(pk=run.pk).update(rows_expected=expected)
        progress = _Progress(run.pk, expected, last_saved=monotonic())
        stem = _file_stem(run, parameters)
        folder = f"{run.created_at:%Y/%m/%d}/{run.pk}"
        with tempfile.TemporaryDirectory(prefix="portal-report-") as scratch:
            csv_file = CsvReportFile(Path(scratch) / f"{stem}.csv", definition.columns)
            xlsx_file = (
                XlsxReportFile(
                    Path(scratch) / f"{stem}.xlsx", definition.columns, title=definition.title
                )
                if run.with_xlsx
                else None
            )
            for row in definition.rows(parameters):
                csv_file.write(row)
                if xlsx_file is not None:
                    xlsx_file.write(row)
                progress.advance()
            csv_file.close()
            if xlsx_file is not None:
                xlsx_file.close()
            ReportRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            stored = {
                "csv_name": _store(csv_file.path, f"{folder}/{csv_file.path.name}"),
                "csv_size": csv_file.path.stat().st_size,
            }
            if xlsx_file is not None:
                stored["xlsx_name"] = _store(xlsx_file.path, f"{folder}/{xlsx_file.path.name}")
                stored["xlsx_size"] = xlsx_file.path.stat().st_size
    except SoftTimeLimitExceeded:
        return _fail(
            run, f"It took longer than {settings.REPORTS_TASK_TIME_LIMIT} seconds and was stopped."
        )
    except Exception as error:
        # Recorded on the run and in the action log, and logged with its traceback.
        logger.exception("report run %s failed", run.pk)
        return _fail(run, f"{type(error).__name__}: {error}"[:500])
    with transaction.atomic():
        ReportRun.objects.filter(pk=run.pk).update(
            status=RunStatus.DONE,
            progress=100,
            row_count=progress.written,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            **stored,
        )
        record(
            action="report.generate",
            actor=WORKER,
            target_type="report_run",
            target_id=str(run.pk),
            params={"kind": run.kind, "rows": progress.written, "files": sorted(stored)},
        )
    run.refresh_from_db()
    return run


def _store(path: Path, name: str) -> str:
    """Save a finished local file into the reports storage (streamed in chunks); its name there."""
    storage = reports_storage()
    if storage.exists(name):  # an earlier attempt of the same run
        storage.delete(name)
    with path.open("rb") as handle:
        return storage.save(name, File(handle, name=path.name))


def _fail(run: ReportRun, reason: str) -> ReportRun:
    with transaction.atomic():
        ReportRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, failure_reason=reason, finished_at=timezone.now()
        )
        record(
            action="report.generate",
            actor=WORKER,
            target_type="report_run",
            target_id=str(run.pk),
            outcome=Outcome.FAILED,
            params={"kind": run.kind},
            reason=reason,
        )
    run.refresh_from_db()
    return run


# --- handing it out -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDownload:
    handle: IO[bytes]
    filename: str
    size: int
    content_type: str


CONTENT_TYPES = {
    FileFormat.CSV: "text/csv; charset=utf-8",
    FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download_report(
    *,
    run: ReportRun,
    file_format: str,
    downloader: Any | None = None,
    service: str = "",
    request: HttpRequest | None = None,
) -> ReportDownload:
    """Open one of the run's files for a person or service; the download is recorded first.

    The caller has already checked that this person or service may see the run
    (``selectors.run_visible_to`` / ``run_of_service``).
    """
    actor = _actor_for(downloader, service)
    params = {"format": file_format, "kind": run.kind}
    if file_format not in run.formats:
        _refuse(
            ReportNotReady(f"This report has no {file_format.upper()} file.", code="no_such_file"),
            actor=actor,
            action="report.download",
            target_id=str(run.pk),
            params=params,
            request=request,
        )
    if run.status != RunStatus.DONE:
        message = (
            "This report failed; it has no file."
            if run.status == RunStatus.FAILED
            else "This report is not ready yet."
        )
        _refuse(
            ReportNotReady(message),
            actor=actor,
            action="report.download",
            target_id=str(run.pk),
            params=params,
            request=request,
        )
    if run.is_expired:
        _refuse(
            ReportExpired(
                f"This report's files were deleted after {settings.REPORTS_RETENTION_DAYS} days."
            ),
            actor=actor,
            action="report.download",
            target_id=str(run.pk),
            params=params,
            request=request,
        )
    name = run.file_name(file_format)
    record(
        action="report.download",
        actor=actor,
        target_type="report_run",
        target_id=str(run.pk),
        params=params | {"rows": run.row_count},
        request=request,
    )
    return ReportDownload(
        handle=reports_storage().open(name, "rb"),
        filename=Path(name).name,
        size=run.size_of(file_format),
        content_type=CONTENT_TYPES[file_format],
    )


# --- housekeeping -------------------------------------------------------------------------


def delete_expired_reports(*, now: datetime | None = None) -> int:
    """Delete the files of runs past their expiry (the rows stay, as history)."""
    now = now or timezone.now()
    storage = reports_storage()
    expired = list(
        ReportRun.objects.filter(expires_at__lte=now, files_deleted_at__isnull=True).values_list(
            "pk", "csv_name", "xlsx_name"
        )
    )
    for _, *names in expired:
        for name in filter(None, names):
            storage.delete(name)
    if not expired:
        return 0
    with transaction.atomic():
        ReportRun.objects.filter(pk__in=[pk for pk, *_ in expired]).update(files_deleted_at=now)
        record(
            action="report.expire",
            actor=Actor.system("report-clean-up"),
            target_type="report_run",
            params={"runs": [str(pk) for pk, *_ in expired]},
            reason=f"older than {settings.REPORTS_RETENTION_DAYS} days",
        )
    return len(expired)


def fail_stalled_runs(*, now: datetime | None = None) -> int:
    """Runs whose worker stopped giving signs of life (killed beyond redelivery) are failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPORTS_TASK_TIME_LIMIT + 300)
    stalled = list(
        ReportRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    for run in ReportRun.objects.filter(pk__in=stalled):
        _fail(run, "The worker building it stopped; ask for the report again.")
    return len(stalled)


# --- schedules ----------------------------------------------------------------------------


def _require_manager(user: Any) -> None:
    if not user.has_role(Role.MANAGER):
        raise ReportNotAllowed("Only managers keep report schedules.")


def create_schedule(
    *,
    manager: Any,
    name: str,
    kind: str,
    frequency: str,
    time_of_day: time,
    timezone_name: str,
    currencies: list[str] | tuple[str, ...] = (),
    statuses: list[str] | tuple[str, ...] = (),
    with_xlsx: bool = False,
    request: HttpRequest | None = None,
) -> ReportSchedule:
    """A standing order for a report on the period just ended, started by celery beat."""
    actor = Actor.for_user(manager)
    name = " ".join(name.split())[:80]
    params = {
        "name": name,
        "kind": kind,
        "frequency": frequency,
        "time": time_of_day.strftime("%H:%M"),
        "timezone": timezone_name,
        "currencies": list(currencies),
        "statuses": list(statuses),
        "xlsx": with_xlsx,
    }
    try:
        _require_manager(manager)
        if not name:
            raise ReportError("Give the schedule a name.", field="name")
        if kind not in selectors.kinds_for_user(manager):
            raise ReportNotAllowed("This report is not available to you.", field="kind")
        if frequency not in Frequency.values:
            raise ReportError(f"Unknown frequency {frequency!r}.", field="frequency")
        # The filters are checked as a run on any period would be.
        start, end = period_ended(frequency=frequency, timezone=timezone_name, now=timezone.now())
        ReportParameters.build(
            kind=kind,
            start=start,
            end=end,
            timezone=timezone_name,
            statuses=statuses,
            currencies=currencies,
        )
    except ReportError as error:
        _refuse(error, actor=actor, action="report.schedule.create", params=params, request=request)
    with transaction.atomic():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(time_of_day.minute),
            hour=str(time_of_day.hour),
            day_of_week="1" if frequency == Frequency.WEEKLY else "*",
            day_of_month="1" if frequency == Frequency.MONTHLY else "*",
            month_of_year="*",
            timezone=timezone_name,
        )
        task = PeriodicTask.objects.create(
            name=f"report schedule {uuid.uuid4()}",
            task=SCHEDULED_TASK,
            crontab=crontab,
            kwargs="{}",
            description=f"Report schedule “{name}”",
        )
        schedule = ReportSchedule.objects.create(
            name=name,
            kind=kind,
            frequency=frequency,
            time_of_day=time_of_day,
            timezone=timezone_name,
            filters={"currencies": list(currencies), "statuses": list(statuses)},
            with_xlsx=with_xlsx,
            periodic_task=task,
            created_by=manager,
            created_at=timezone.now(),
        )
        task.name = f"report schedule {schedule.pk}: {name}"[:200]
        task.kwargs = json.dumps({"schedule_id": schedule.pk})
        task.save(update_fields=["name", "kwargs"])
        record(
            action="report.schedule.create",
            actor=actor,
            target_type="report_schedule",
            target_id=str(schedule.pk),
            params=params,
            request=request,
        )
    return schedule


def _locked_schedule(schedule_id: int) -> ReportSchedule:
    schedule = (
        ReportSchedule.objects.select_for_update()
        .select_related("periodic_task")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None:
        raise ScheduleNotFound("That schedule no longer exists.")
    return schedule


def pause_schedule(
    *, manager: Any, schedule_id: int, paused: bool, request: HttpRequest | None = None
) -> ReportSchedule:
    """Pause (no runs until resumed) or resume a schedule."""
    action = "report.schedule.pause" if paused else "report.schedule.resume"
    actor = Actor.for_user(manager)
    try:
        _require_manager(manager)
    except ReportError as error:
        _refuse(error, actor=actor, action=action, target_id=str(schedule_id), request=request)
    with transaction.atomic():
        schedule = _locked_schedule(schedule_id)
        task = schedule.periodic_task
        task.enabled = not paused
        task.save(update_fields=["enabled"])  # save(), not update(): beat watches the signal
        record(
            action=action,
            actor=actor,
            target_type="report_schedule",
            target_id=str(schedule.pk),
            params={"name": schedule.name},
            request=request,
        )
    return schedule


def delete_schedule(*, manager: Any, schedule_id: int, request: HttpRequest | None = None) -> None:
    """Delete a schedule and its beat entry; the runs it made stay, as history."""
    actor = Actor.for_user(manager)
    try:
        _require_manager(manager)
    except ReportError as error:
        _refuse(
            error,
            actor=actor,
            action="report.schedule.delete",
            target_id=str(schedule_id),
            request=request,
        )
    with transaction.atomic():
        schedule = _locked_schedule(schedule_id)
        task = schedule.periodic_task
        name = schedule.name
        schedule.delete()
        task.delete()
        record(
            action="report.schedule.delete",
            actor=actor,
            target_type="report_schedule",
            target_id=str(schedule_id),
            params={"name": name},
            request=request,
        )


def start_scheduled_run(*, schedule_id: int, now: datetime | None = None) -> ReportRun | None:
    """What beat starts: one run on the period just ended, in the schedule owner's name."""
    schedule = (
        ReportSchedule.objects.select_related("created_by", "periodic_task")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None or schedule.paused:
        logger.info("report schedule %s is gone or paused; nothing to run", schedule_id)
        return None
    token = bind_request_id(new_request_id())
    try:
        start, end = period_ended(
            frequency=schedule.frequency, timezone=schedule.timezone, now=now or timezone.now()
        )
        parameters = ReportParameters.build(
            kind=schedule.kind,
            start=start,
            end=end,
            timezone=schedule.timezone,
            statuses=schedule.filters.get("statuses", ()),
            currencies=schedule.filters.get("currencies", ()),
        )
        return request_report(
            kind=schedule.kind,
            parameters=parameters,
            with_xlsx=schedule.with_xlsx,
            requester=schedule.created_by,
            schedule=schedule,
        )
    finally:
        reset_request_id(token)
