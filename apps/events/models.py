"""What the event intake has received from the Go services.

Written only by the event consumer. ``ReceivedEvent`` is at once the
deduplication ledger (``(source, event_id)`` is unique) and the history that
detail pages show as a timeline. ``IntakeHeartbeat`` is a single row the
consumer touches while it runs, so the portal can tell "no traffic" from
"consumer down".
"""

from __future__ import annotations

from django.db import models


class EventOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    STALE = "stale", "Stale (older than the stored state)"
    IGNORED = "ignored", "Ignored (unknown type)"


class ReceivedEvent(models.Model):
    source = models.CharField(max_length=255)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=64)
    subject = models.UUIDField(null=True, help_text="The aggregate id; null for unknown types.")
    sequence = models.BigIntegerField(null=True)
    occurred_at = models.DateTimeField(null=True, help_text="The event's `time` attribute.")
    received_at = models.DateTimeField(help_text="When the portal committed this event.")
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices)
    data = models.JSONField(null=True)

    class Meta:
        db_table = "events_received_event"
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="received_event_unique_id"),
        ]
        indexes = [
            models.Index(fields=["subject", "sequence"], name="received_event_subject"),
            models.Index(fields=["received_at"], name="received_event_received"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject} #{self.sequence}"


class IntakeHeartbeat(models.Model):
    """One row per consumer process (``consumer`` = hostname:pid), touched at every flush or idle tick."""

    consumer = models.CharField(max_length=255, primary_key=True)
    seen_at = models.DateTimeField()
    last_batch_at = models.DateTimeField(null=True)
    last_batch_lag_seconds = models.FloatField(
        null=True,
        help_text="Seconds between the newest event's time and its commit in the last batch.",
    )

    class Meta:
        db_table = "events_intake_heartbeat"

    def __str__(self) -> str:
        return f"{self.consumer} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


class DeadLetterStatus(models.TextChoices):
    PENDING = "pending", "Waiting for an operator"
    RESOLVED = "resolved", "Applied on replay"


class DeadLetter(models.Model):
    """A message the intake could not apply, kept whole so nothing is lost.

    The same bytes arriving again (a producer retry) update ``last_seen`` and
    ``attempts`` instead of adding a row.
    """

    fingerprint = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 of routing key and body."
    )
    routing_key = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    reason = models.TextField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=DeadLetterStatus.choices, default=DeadLetterStatus.PENDING
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events_dead_letter"
        indexes = [models.Index(fields=["status", "last_seen"], name="dead_letter_status")]

    def __str__(self) -> str:
        return f"dead letter {self.pk}: {self.reason[:60]}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class IntakeCounter(models.Model):
    """Running totals per source: received = applied + duplicates + stale + ignored + dead letters."""

    source = models.CharField(max_length=255, primary_key=True)
    received = models.BigIntegerField(default=0)
    applied = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    stale = models.BigIntegerField(default=0)
    ignored = models.BigIntegerField(default=0)
    dead_letters = models.BigIntegerField(default=0)
    newest_applied_at = models.DateTimeField(
        null=True, help_text="When the portal last applied one."
    )
    newest_event_time = models.DateTimeField(
        null=True, help_text="`time` of the newest applied event."
    )

    class Meta:
        db_table = "events_intake_counter"

    def __str__(self) -> str:
        return f"{self.source}: {self.received} received"
