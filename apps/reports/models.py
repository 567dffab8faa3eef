"""Report runs and report schedules.

Written only by ``apps.reports.services``. A ``ReportRun`` is one report
built by a Celery task: its parameters, who asked for it (a person, a calling
service, or a schedule), its progress, and the files it produced in the
``reports`` storage (``STORAGES["reports"]``) until it expires. A
``ReportSchedule`` is a manager's standing order ("refunds of yesterday, every
day at 06:00") carried out by celery beat through its ``PeriodicTask``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from apps.reports.parameters import ReportParameters


class ReportKind(models.TextChoices):
    PAYMENTS = "payments", "Payments"
    REFUNDS = "refunds", "Refunds with requester and approvers"
    ACTION_LOG = "action_log", "Action log extract"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


FINISHED_STATUSES = (RunStatus.DONE, RunStatus.FAILED)


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"


class ReportRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    parameters = models.JSONField(
        help_text="The period as aware UTC instants, filters, the timezone the period was asked in."
    )
    with_xlsx = models.BooleanField(default=False, help_text="An XLSX file besides the CSV.")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    failure_reason = models.TextField(blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent of rows written.")
    rows_expected = models.BigIntegerField(null=True, blank=True)
    row_count = models.BigIntegerField(default=0)
    csv_name = models.CharField(
        max_length=255, blank=True, help_text="The CSV file's name in the reports storage."
    )
    csv_size = models.BigIntegerField(default=0)
    xlsx_name = models.CharField(max_length=255, blank=True)
    xlsx_size = models.BigIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The person who asked, when a person did.",
    )
    requested_by_service = models.CharField(
        max_length=100, blank=True, help_text="The calling service's name, when a service did."
    )
    schedule = models.ForeignKey(
        "ReportSchedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="The schedule that started this run, if one did.",
    )
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the task building the files."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="The files are deleted after this moment.")
    files_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "reports_report_run"
        indexes = [
            models.Index(fields=["created_at", "id"], name="report_run_created"),
            models.Index(fields=["requested_by_service", "created_at"], name="report_run_service"),
            models.Index(fields=["status", "heartbeat_at"], name="report_run_status"),
            models.Index(fields=["expires_at"], name="report_run_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} report {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def is_expired(self) -> bool:
        return self.files_deleted_at is not None or self.expires_at <= timezone.now()

    @property
    def requester(self) -> str:
        """Who asked, in words: a person, a service, or a schedule."""
        if self.requested_by_service:
            return f"service {self.requested_by_service}"
        person = self.requested_by.display_name if self.requested_by else "—"
        if self.schedule is not None:
            return f"{person} (schedule “{self.schedule.name}”)"
        return person

    def file_name(self, file_format: str) -> str:
        return self.xlsx_name if file_format == FileFormat.XLSX else self.csv_name

    def size_of(self, file_format: str) -> int:
        return self.xlsx_size if file_format == FileFormat.XLSX else self.csv_size

    @property
    def period(self) -> ReportParameters:
        from apps.reports.parameters import ReportParameters

        return ReportParameters.from_json(self.parameters)

    def describe_parameters(self) -> str:
        return self.period.describe()

    @property
    def formats(self) -> list[str]:
        """The formats this run produces (CSV always)."""
        return [FileFormat.CSV, FileFormat.XLSX] if self.with_xlsx else [FileFormat.CSV]

    @property
    def files(self) -> list[dict[str, str | int]]:
        """Each file with its format and size in bytes."""
        return [{"format": f, "size": self.size_of(f)} for f in self.formats]


class Frequency(models.TextChoices):
    DAILY = "daily", "Every day (the previous day)"
    WEEKLY = "weekly", "Every Monday (the previous 7 days)"
    MONTHLY = "monthly", "On the 1st of each month (the previous month)"


class ReportSchedule(models.Model):
    """A standing order for a report over the period just ended, in its own timezone."""

    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    time_of_day = models.TimeField(help_text="When the run starts, in ``timezone``.")
    timezone = models.CharField(max_length=64)
    filters = models.JSONField(default=dict, help_text="Statuses and currencies, as in a run.")
    with_xlsx = models.BooleanField(default=False)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.PROTECT,
        related_name="report_schedule",
        help_text="The celery beat entry that starts the runs; disabled while paused.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "reports_report_schedule"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def paused(self) -> bool:
        return not self.periodic_task.enabled

    def describe_filters(self) -> str:
        parts = []
        if self.filters.get("statuses"):
            parts.append("status " + ", ".join(self.filters["statuses"]))
        if self.filters.get("currencies"):
            parts.append("currency " + ", ".join(self.filters["currencies"]))
        return "; ".join(parts) or "—"
