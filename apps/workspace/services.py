"""Saving views and column choices (a person's own preferences, recorded like every write)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import Actor, not_audited, record
from apps.workspace.models import ColumnChoice, LastLooked, SavedView

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
    # One statement whatever the history holds: the upsert, and trimming to the newest few
    # (the upserted row always stays), so a record page costs one round trip.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH opened AS (
                INSERT INTO workspace_recent_record (owner_id, kind, record_id, label, url, opened_at)
                VALUES (%(owner)s, %(kind)s, %(record_id)s, %(label)s, %(url)s, %(now)s)
                ON CONFLICT (owner_id, kind, record_id)
                DO UPDATE SET label = EXCLUDED.label, url = EXCLUDED.url,
                              opened_at = EXCLUDED.opened_at
                RETURNING id
            )
            DELETE FROM workspace_recent_record
            WHERE owner_id = %(owner)s
              AND id NOT IN (SELECT id FROM opened)
              AND id NOT IN (
                  SELECT id FROM workspace_recent_record
                  WHERE owner_id = %(owner)s ORDER BY opened_at DESC LIMIT %(others)s
              )
            """,
            {
                "owner": owner.pk,
                "kind": kind,
                "record_id": record_id,
                "label": label[:200],
                "url": url[:300],
                "now": timezone.now(),
                "others": RECENT_KEPT - 1,
            },
        )


@not_audited("marks when a person last opened a list, for their start page")
def note_list_looked(*, owner: Any, list_name: str) -> None:
    if not getattr(owner, "is_authenticated", False):
        return
    LastLooked.objects.bulk_create(
        [LastLooked(owner=owner, list_name=list_name, looked_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["owner", "list_name"],
        update_fields=["looked_at"],
    )
