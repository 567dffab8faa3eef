"""Reads of a person's saved views and column choices."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.workspace.models import ColumnChoice, LastLooked, RecentRecord, SavedView


def saved_views(*, owner: Any, list_name: str) -> QuerySet[SavedView]:
    return SavedView.objects.filter(owner=owner, list_name=list_name)


def shared_view(view_id: int) -> SavedView:
    """Anyone who may open the list may open a view shared with them by link."""
    view = SavedView.objects.filter(pk=view_id).first()
    if view is None:
        raise Http404("This saved view no longer exists.")
    return view


def chosen_columns(*, owner: Any, list_name: str, allowed: list[str]) -> list[str]:
    choice = (
        ColumnChoice.objects.filter(owner=owner, list_name=list_name)
        .values_list("columns", flat=True)
        .first()
    )
    return [c for c in allowed if c in choice] if choice else list(allowed)


def visible_columns(
    *, owner: Any, list_name: str, allowed: list[str], requested: str | None
) -> list[str]:
    """The columns a list shows: those a (shared) view asks for in ``cols``, else the person's choice."""
    if requested:
        asked = [c for c in allowed if c in set(requested.split(","))]
        if asked:
            return asked
    return chosen_columns(owner=owner, list_name=list_name, allowed=allowed)


def recent_records(*, owner: Any, limit: int = 8) -> list[RecentRecord]:
    """The records this person opened last, newest first (one indexed read)."""
    return list(RecentRecord.objects.filter(owner=owner).order_by("-opened_at")[:limit])


def last_looked_at(*, owner: Any, list_name: str):
    """When this person last opened ``list_name``, or None if never."""
    return (
        LastLooked.objects.filter(owner=owner, list_name=list_name)
        .values_list("looked_at", flat=True)
        .first()
    )
