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
