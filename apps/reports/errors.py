"""The domain errors of reports. Views and the API turn them into messages or 4xx answers."""

from __future__ import annotations


class ReportError(Exception):
    """A report that cannot be asked for or handed out; ``message`` is meant for the person."""

    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class ReportNotAllowed(ReportError):
    """This person or service may not ask for this kind of report, or see this run."""

    default_code = "not_allowed"


class ReportNotReady(ReportError):
    """The run has not produced its files (yet, or ever: it failed)."""

    default_code = "not_ready"


class ReportExpired(ReportError):
    """The run's files were deleted after the retention period."""

    default_code = "expired"


class ReportBusy(ReportError):
    """Another worker is building this run right now (a duplicate or redelivered task)."""

    default_code = "busy"


class ScheduleNotFound(ReportError):
    default_code = "not_found"
