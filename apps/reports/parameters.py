"""What a report is asked for: its kind, its period and its filters, checked once.

A period is half-open, ``[start, end)``, two aware instants kept in UTC.
People ask in days of their own timezone ("1 to 7 November" in Berlin);
services and schedules ask in instants. Either way the run stores the
instants and the timezone the period was meant in, which names the files.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from apps.payments.currencies import is_currency
from apps.payments.models import PaymentStatus
from apps.reports.errors import ReportError
from apps.reports.models import Frequency, ReportKind

# A report's period may cover at most this long: a bigger extract is a data export, not a report.
MAX_PERIOD = timedelta(days=366)
# Periods lie between these instants (none of the portal's data is older; nothing overflows).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportParameters:
    start: datetime
    end: datetime
    timezone: str = "UTC"
    statuses: tuple[str, ...] = field(default_factory=tuple)
    currencies: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        *,
        kind: str,
        start: datetime,
        end: datetime,
        timezone: str = "UTC",
        statuses: list[str] | tuple[str, ...] = (),
        currencies: list[str] | tuple[str, ...] = (),
    ) -> ReportParameters:
        """Checked parameters, or :class:`ReportError` naming the field at fault."""
        if kind not in ReportKind.values:
            raise ReportError(f"Unknown report {kind!r}.", field="kind")
        if start.tzinfo is None or end.tzinfo is None:
            raise ReportError("Give the period's instants with their UTC offset.", field="start")
        if not (start >= EARLIEST and end <= LATEST):
            raise ReportError("The period must lie between 2000 and 2100.", field="start")
        if end <= start:
            raise ReportError("The period must end after it starts.", field="end")
        if end - start > MAX_PERIOD:
            raise ReportError("A report covers at most 366 days.", field="end")
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ReportError(f"Unknown timezone {timezone!r}.", field="timezone") from None
        statuses = tuple(dict.fromkeys(statuses))
        currencies = tuple(dict.fromkeys(code.upper() for code in currencies))
        if statuses and kind != ReportKind.PAYMENTS:
            raise ReportError("Statuses filter the payments report only.", field="statuses")
        unknown = [s for s in statuses if s not in PaymentStatus.values]
        if unknown:
            raise ReportError(f"Unknown payment status {unknown[0]!r}.", field="statuses")
        if currencies and kind == ReportKind.ACTION_LOG:
            raise ReportError("The action log has no currency to filter on.", field="currencies")
        bad = [c for c in currencies if not is_currency(c)]
        if bad:
            raise ReportError(f"Unknown currency {bad[0]!r}.", field="currencies")
        return cls(
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            timezone=timezone,
            statuses=statuses,
            currencies=currencies,
        )

    @classmethod
    def for_days(
        cls, *, kind: str, first_day: date, last_day: date, timezone: str, **filters: Any
    ) -> ReportParameters:
        """Whole days, both included, in ``timezone`` (what a person picks in the form)."""
        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ReportError(f"Unknown timezone {timezone!r}.", field="timezone") from None
        if not (EARLIEST.year <= first_day.year and last_day.year < LATEST.year):
            raise ReportError("The period must lie between 2000 and 2100.", field="start")
        if last_day < first_day:
            raise ReportError("The last day must not be before the first day.", field="end")
        return cls.build(
            kind=kind,
            start=datetime.combine(first_day, time(), tzinfo=zone),
            end=datetime.combine(last_day + timedelta(days=1), time(), tzinfo=zone),
            timezone=timezone,
            **filters,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportParameters:
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            timezone=data.get("timezone", "UTC"),
            statuses=tuple(data.get("statuses", ())),
            currencies=tuple(data.get("currencies", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "statuses": list(self.statuses),
            "currencies": list(self.currencies),
        }

    def local_days(self) -> tuple[date, date]:
        """The first and last day the period touches, in its own timezone."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        return (
            self.start.astimezone(zone).date(),
            (self.end - timedelta(microseconds=1)).astimezone(zone).date(),
        )

    def describe(self) -> str:
        first, last = self.local_days()
        days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        parts = [f"{days} ({self.timezone})"]
        if self.statuses:
            parts.append("status " + ", ".join(self.statuses))
        if self.currencies:
            parts.append("currency " + ", ".join(self.currencies))
        return "; ".join(parts)


def period_ended(*, frequency: str, timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """The period a schedule reports on when it runs at ``now``: the day, week or month just ended."""
    zone = zoneinfo.ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if frequency == Frequency.DAILY:
        first, end = today - timedelta(days=1), today
    elif frequency == Frequency.WEEKLY:
        first, end = today - timedelta(days=7), today
    elif frequency == Frequency.MONTHLY:
        end = today.replace(day=1)
        first = (end - timedelta(days=1)).replace(day=1)
    else:
        raise ReportError(f"Unknown frequency {frequency!r}.", field="frequency")
    return (
        datetime.combine(first, time(), tzinfo=zone),
        datetime.combine(end, time(), tzinfo=zone),
    )
