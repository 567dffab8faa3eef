"""Reads over what the event intake received: timelines, freshness and dead letters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BinaryField, Count, F, Func, IntegerField, Q, Value
from django.utils import timezone

from apps.events.models import DeadLetter, DeadLetterStatus, IntakeHeartbeat, ReceivedEvent
from apps.home.paging import KeysetPage, keyset_page


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    sequence: int | None
    occurred_at: datetime | None
    received_at: datetime
    source: str
    outcome: str
    event_id: str


def timeline_for(subject: uuid.UUID, *, limit: int = 200) -> list[TimelineEntry]:
    """The events received for one aggregate, newest sequence first."""
    rows = (
        ReceivedEvent.objects.filter(subject=subject)
        .order_by("-sequence", "-received_at")
        .values_list(
            "type", "sequence", "occurred_at", "received_at", "source", "outcome", "event_id"
        )[:limit]
    )
    return [TimelineEntry(*row) for row in rows]


@dataclass(frozen=True)
class IntakeFreshness:
    consumer_seen_at: datetime | None
    last_batch_at: datetime | None
    last_batch_lag_seconds: float | None

    def lag_seconds(self, now: datetime | None = None) -> float | None:
        """How far behind the read models may be: the last batch's lag, or the silence of the consumer."""
        if self.consumer_seen_at is None:
            return None
        now = now or timezone.now()
        silence = (now - self.consumer_seen_at).total_seconds()
        return max(silence, self.last_batch_lag_seconds or 0.0)

    def is_lagging(self, threshold_seconds: float, now: datetime | None = None) -> bool:
        lag = self.lag_seconds(now)
        return lag is None or lag > threshold_seconds


def intake_freshness() -> IntakeFreshness:
    """From the consumers' heartbeats (one small row per intake thread), in one query."""
    rows = list(
        IntakeHeartbeat.objects.values_list("seen_at", "last_batch_at", "last_batch_lag_seconds")
    )
    if not rows:
        return IntakeFreshness(
            consumer_seen_at=None, last_batch_at=None, last_batch_lag_seconds=None
        )
    batches = [row for row in rows if row[1] is not None]
    latest = max(batches, key=lambda row: row[1]) if batches else (None, None, None)
    return IntakeFreshness(
        consumer_seen_at=max(row[0] for row in rows),
        last_batch_at=latest[1],
        last_batch_lag_seconds=latest[2],
    )


@dataclass(frozen=True)
class SourceStats:
    source: str
    received: int
    applied: int
    duplicates: int
    stale: int
    ignored: int
    dead_letters: int
    newest_applied_at: datetime | None
    newest_event_time: datetime | None
    seconds_since_newest_applied: float | None

    @property
    def adds_up(self) -> bool:
        return self.received == (
            self.applied + self.duplicates + self.stale + self.ignored + self.dead_letters
        )


def intake_stats(now: datetime | None = None) -> list[SourceStats]:
    """Counts and freshness per source (``manage.py events stats``)."""
    from apps.events.models import IntakeCounter

    now = now or timezone.now()
    stats = []
    for row in IntakeCounter.objects.order_by("source"):
        since = (now - row.newest_applied_at).total_seconds() if row.newest_applied_at else None
        stats.append(
            SourceStats(
                source=row.source,
                received=row.received,
                applied=row.applied,
                duplicates=row.duplicates,
                stale=row.stale,
                ignored=row.ignored,
                dead_letters=row.dead_letters,
                newest_applied_at=row.newest_applied_at,
                newest_event_time=row.newest_event_time,
                seconds_since_newest_applied=since,
            )
        )
    return stats


def pending_dead_letters(*, limit: int | None = None):
    letters = DeadLetter.objects.filter(status=DeadLetterStatus.PENDING).order_by("first_seen")
    return letters[:limit] if limit else letters


def newest_applied_at():
    """When the intake last applied any event (from its counters: no scan of the big tables)."""
    from django.db.models import Max

    from apps.events.models import IntakeCounter

    return IntakeCounter.objects.aggregate(newest=Max("newest_applied_at"))["newest"]


# --- dead letters, as people see them ------------------------------------------------

# A body longer than this is shown cut (the whole stays in the table; the CLI prints it).
DEAD_LETTER_BODY_SHOWN = 64 * 1024


@dataclass(frozen=True)
class DeadLetterListing:
    status: str
    page: KeysetPage
    waiting: int
    resolved: int


def dead_letter_listing(*, status: str, after: str | None, size: int = 50) -> DeadLetterListing:
    """One page of dead letters of ``status``, the most recently seen first, and both counts.

    Each row carries ``body_start`` (the first ``DEAD_LETTER_BODY_SHOWN`` + 1 bytes) and
    ``body_size``, not the whole body.

    Two statements: the page (keyset on ``dead_letter_status``) and the two counts together.
    """
    # Only the part of each body the page shows (and its size) leaves the database: a
    # malformed message may be any size, and fifty of them make one page.
    letters = (
        DeadLetter.objects.filter(status=status)
        .defer("body")
        .annotate(
            body_start=Func(
                F("body"),
                Value(1),
                Value(DEAD_LETTER_BODY_SHOWN + 1),
                function="substring",
                output_field=BinaryField(),
            ),
            body_size=Func(F("body"), function="octet_length", output_field=IntegerField()),
        )
    )
    page = keyset_page(
        letters,
        field="last_seen",
        descending=True,
        pk="id",
        after=after,
        size=size,
    )
    counts = DeadLetter.objects.aggregate(
        waiting=Count("id", filter=Q(status=DeadLetterStatus.PENDING)),
        resolved=Count("id", filter=Q(status=DeadLetterStatus.RESOLVED)),
    )
    return DeadLetterListing(status=status, page=page, **counts)
