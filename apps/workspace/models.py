"""A person's working comfort on the lists: saved views and the columns they show.

Written only by ``apps.workspace.services``. These are preferences, not
business data: every role may keep its own.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class SavedView(models.Model):
    """A named filter + sort + columns set of one list, shareable by its link."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    list_name = models.CharField(max_length=32)
    name = models.CharField(max_length=80)
    querystring = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workspace_saved_view"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "list_name", "name"], name="saved_view_unique_name"
            )
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.list_name}: {self.name}"


class ColumnChoice(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="column_choices"
    )
    list_name = models.CharField(max_length=32)
    columns = ArrayField(models.CharField(max_length=40))

    class Meta:
        db_table = "workspace_column_choice"
        constraints = [
            models.UniqueConstraint(fields=["owner", "list_name"], name="column_choice_unique")
        ]

    def __str__(self) -> str:
        return f"{self.list_name}: {', '.join(self.columns)}"


class RecentRecord(models.Model):
    """A record (payment, account, refund, request) a person opened, for their start page.

    One row per person and record, its time moved on each visit; only the
    newest few are ever read (``apps.workspace.selectors.recent_records``).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recent_records"
    )
    kind = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    url = models.CharField(max_length=300)
    opened_at = models.DateTimeField()

    class Meta:
        db_table = "workspace_recent_record"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "kind", "record_id"], name="recent_record_unique"
            )
        ]
        indexes = [models.Index(fields=["owner", "-opened_at"], name="recent_record_owner")]

    def __str__(self) -> str:
        return f"{self.kind} {self.record_id}"


class LastLooked(models.Model):
    """When a person last opened a list ("decided since I last looked" counts from here)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="last_looked"
    )
    list_name = models.CharField(max_length=32)
    looked_at = models.DateTimeField()

    class Meta:
        db_table = "workspace_last_looked"
        constraints = [
            models.UniqueConstraint(fields=["owner", "list_name"], name="last_looked_unique")
        ]

    def __str__(self) -> str:
        return f"{self.list_name} at {self.looked_at}"
