"""Saving views and column choices (a person's own preferences, recorded like every write)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import Actor, not_audited, record
from apps.workspace.models import ColumnChoice, LastLooked, RecentRecord, SavedView

# Cursors point into one moment's data; a saved view starts from the first page.
NOT_SAVED = {"after", "before", "format"}


class WorkspaceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def save_view(
    *, owner: Any, list_name: str, name: str, querystring: str, request: HttpRequest | None = None
) -> SavedView:
    name = " ".join(name.split())[:80]
    if not name:
        raise WorkspaceError("Give the view a name.")
    kept = urlencode([(k, v) for k, v in parse_qsl(querystring) if k not in NOT_SAVED])
    try:
        with transaction.atomic():
            view = SavedView.objects.create(
                owner=owner, list_name=list_name, name=name, querystring=kept
            )
            record(
                action="workspace.saved_view.create",
                actor=Actor.for_user(owner),
                target_type="saved_view",
                target_id=str(view.pk),
                params={"list": list_name, "name": name, "querystring": kept},
                request=request,
            )
    except IntegrityError:
        raise WorkspaceError(f"You already have a view called “{name}”.") from None
    return view


def delete_view(*, owner: Any, view_id: int, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        deleted, _ = SavedView.objects.filter(owner=owner, pk=view_id).delete()
        if not deleted:
            raise WorkspaceError("That view does not exist (or is not yours).")
        record(
            action="workspace.saved_view.delete",
            actor=Actor.for_user(owner),
            target_type="saved_view",
            target_id=str(view_id),
            request=request,
        )


def choose_columns(
    *,
    owner: Any,
    list_name: str,
    columns: list[str],
    allowed: list[str],
    request: HttpRequest | None = None,
) -> list[str]:
    chosen = [c for c in allowed if c in set(columns)]
    if not chosen:
        raise WorkspaceError("Keep at least one column.")
    with transaction.atomic():
        ColumnChoice.objects.update_or_create(
            owner=owner, list_name=list_name, defaults={"columns": chosen}
        )
        record(
            action="workspace.columns.choose",
            actor=Actor.for_user(owner),
            target_type="list",
            target_id=list_name,
            params={"columns": chosen},
            request=request,
        )
    return chosen


# --- what a person opened (for their start page) ---------------------------------------------

RECENT_KEPT = 20


@not_audited("a person's own reading history for their start page, not an action on data")
def note_record_opened(*, owner: Any, kind: str, record_id: str, label: str, url: str) -> None:
    """Remember that ``owner`` opened a record; only the newest ``RECENT_KEPT`` are kept."""
    if not getattr(owner, "is_authenticated", False):
        return
    now = timezone.now()
    RecentRecord.objects.update_or_create(
        owner=owner,
        kind=kind,
        record_id=record_id,
        defaults={"label": label[:200], "url": url[:300], "opened_at": now},
    )
    stale = RecentRecord.objects.filter(owner=owner).order_by("-opened_at")[RECENT_KEPT:]
    stale_ids = list(stale.values_list("pk", flat=True))
    if stale_ids:
        RecentRecord.objects.filter(pk__in=stale_ids).delete()


@not_audited("marks when a person last opened a list, for their start page")
def note_list_looked(*, owner: Any, list_name: str) -> None:
    if not getattr(owner, "is_authenticated", False):
        return
    LastLooked.objects.update_or_create(
        owner=owner, list_name=list_name, defaults={"looked_at": timezone.now()}
    )
