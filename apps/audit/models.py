"""The action log: one row per action, append-only and hash-chained.

Written only by ``apps.audit.services.record``. PostgreSQL itself rejects
UPDATE, DELETE and TRUNCATE on the table (triggers enabled ALWAYS, so
``session_replication_role`` does not silence them), and each entry carries
the previous entry's hash and its own, so a row altered or removed by
someone who bypasses the triggers is found by ``manage.py audit verify``.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class AuditEntry(models.Model):
    sequence = models.BigIntegerField(unique=True, help_text="Gap-free position in the chain.")
    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_name = models.CharField(max_length=320)
    actor_user_id = models.BigIntegerField(null=True)
    actor_roles = ArrayField(models.CharField(max_length=16), default=list)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    params = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=16)
    api_status = models.PositiveSmallIntegerField(null=True)
    api_error_code = models.CharField(max_length=100, blank=True)
    api_error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    client_ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_entry"
        indexes = [
            models.Index(fields=["created_at"], name="audit_created"),
            models.Index(fields=["target_type", "target_id", "sequence"], name="audit_target"),
            models.Index(fields=["actor_user_id", "sequence"], name="audit_actor"),
            models.Index(fields=["action", "sequence"], name="audit_action"),
            models.Index(fields=["request_id"], name="audit_request"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_name}"


class AuditCheckpoint(models.Model):
    """Where the last verification ended, so the next one starts there (incremental)."""

    verified_through = models.BigIntegerField()
    verified_hash = models.CharField(max_length=64)
    verified_at = models.DateTimeField()
    entries_checked = models.BigIntegerField()

    class Meta:
        db_table = "audit_checkpoint"

    def __str__(self) -> str:
        return f"verified through #{self.verified_through}"


class AuditDigest(models.Model):
    """A signed digest of the entries written since the previous one (``services.write_digest``).

    The signed file in ``STORAGES["audit_digests"]`` is the authority (it lives
    outside this database); this row is the portal's copy, for listing and for
    checking that the two agree. ``document`` holds the file's exact bytes.
    """

    number = models.BigIntegerField(unique=True)
    first_sequence = models.BigIntegerField()
    last_sequence = models.BigIntegerField()
    entry_count = models.BigIntegerField()
    chain_head_hash = models.CharField(max_length=64)
    previous_digest_hash = models.CharField(max_length=64)
    digest_hash = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    key_fingerprint = models.CharField(max_length=80)
    document = models.TextField()
    stored_at = models.DateTimeField(null=True, help_text="When the file reached the digest store.")

    class Meta:
        db_table = "audit_digest"

    def __str__(self) -> str:
        return f"digest #{self.number} (entries #{self.first_sequence} to #{self.last_sequence})"

    @property
    def file_name(self) -> str:
        from apps.audit.offline_verify import digest_file_name

        return digest_file_name(self.number)
