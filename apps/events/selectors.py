"""Reads over what the event intake received: timelines and freshness."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from apps.events.models import IntakeHeartbeat, ReceivedEvent


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
    newest = IntakeHeartbeat.objects.aggregate(seen=Max("seen_at"), batch=Max("last_batch_at"))
    last = (
        IntakeHeartbeat.objects.filter(last_batch_at__isnull=False)
        .order_by("-last_batch_at")
        .values_list("last_batch_lag_seconds", flat=True)
        .first()
    )
    return IntakeFreshness(
        consumer_seen_at=newest["seen"], last_batch_at=newest["batch"], last_batch_lag_seconds=last
    )
