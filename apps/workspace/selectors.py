"""Reads of a person's saved views and column choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject
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


@dataclass(frozen=True)
class ListPreferences:
    """What one person keeps for one list: the columns a page shows and their saved views."""

    columns: list[str]
    saved_views: list[SavedView]


def list_preferences(
    *, owner: Any, list_name: str, allowed: list[str], requested: str | None
) -> ListPreferences:
    """The columns one list page shows and the person's saved views of it, in one round trip.

    The columns are those a (shared) view asks for in ``requested`` (its ``cols``), else the
    person's choice, else all. Every list page needs both; as two statements they were a
    sixth of a page's queries.
    """
    chosen = ColumnChoice.objects.filter(owner=OuterRef("pk"), list_name=list_name).values(
        "columns"
    )[:1]
    views = (
        SavedView.objects.filter(owner=OuterRef("pk"), list_name=list_name)
        .order_by(*SavedView._meta.ordering, "pk")
        .values(view=JSONObject(id="id", name="name", querystring="querystring"))
    )
    choice, stored = (
        get_user_model()
        .objects.filter(pk=owner.pk)
        .annotate(choice=Subquery(chosen), views=ArraySubquery(views))
        .values_list("choice", "views")
        .get()
    )
    columns = None
    if requested:
        columns = [c for c in allowed if c in set(requested.split(","))] or None
    if columns is None:
        columns = [c for c in allowed if c in choice] if choice else list(allowed)
    return ListPreferences(
        columns=columns,
        saved_views=[
            SavedView(
                id=view["id"],
                owner_id=owner.pk,
                list_name=list_name,
                name=view["name"],
                querystring=view["querystring"],
            )
            for view in stored
        ],
    )


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
