"""Keyset paging for the big lists: constant time on any page, whatever the table's size.

OFFSET paging reads and throws away every row before the page (≈ 18 ms more
by page 2,000 on a million payments, MEASURED.md); keyset paging seeks to the
last row seen through the index. The comparison ``(value, pk) < (v, id)``
is written with the redundant bound ``value <= v`` so PostgreSQL uses the
index on deep pages (25 ms → 6 ms measured). Counting is bounded: exact up to
``COUNT_LIMIT`` rows, "more than N" beyond.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError, connection, transaction
from django.db.models import Q, QuerySet

COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None
    is_first: bool


def encode_cursor(value: Any, pk: Any) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([raw, str(pk)]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, kind: str) -> tuple[Any, str] | None:
    """The (value, pk) a cursor points at, or None for a cursor that is not ours.

    ``kind`` is the sort field's type: "datetime", "int" or "text".
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded))
        if kind == "datetime":
            value = datetime.fromisoformat(value)
        elif kind == "text":
            if not isinstance(value, str):
                return None
        elif not isinstance(value, int) or isinstance(value, bool):
            return None
        return value, str(pk)
    except (ValueError, TypeError):
        return None


def keyset_page(
    queryset: QuerySet,
    *,
    field: str,
    descending: bool,
    pk: str,
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
    columns: tuple[str, ...] | None = None,
) -> KeysetPage:
    """One page ordered by (field, pk); ``after``/``before`` are cursors from a previous page.

    ``field`` may be an annotation of the queryset (a text sort in its own collation).
    With ``columns`` (field names, ``account__owner_name`` for a related one) the rows
    are named tuples of those columns (plus ``field`` and ``pk``) instead of model
    instances: a list page builds 51 of them, and model instances with their related
    rows cost ≈ 5 % of the request (docs/lists.md).
    """
    backwards = bool(before) and not after
    cursor = (
        decode_cursor(after or before or "", kind=_kind(queryset, field))
        if (after or before)
        else None
    )
    # Moving forwards in a descending list means smaller values, and so on.
    smaller = descending != backwards
    if cursor is not None:
        value, key = cursor
        lookup, bound = ("lt", "lte") if smaller else ("gt", "gte")
        queryset = queryset.filter(
            Q(**{f"{field}__{lookup}": value}) | Q(**{field: value, f"{pk}__{lookup}": key}),
            **{f"{field}__{bound}": value},
        )
    direction = "-" if smaller else ""
    ordered = queryset.order_by(f"{direction}{field}", f"{direction}{pk}")
    if columns is not None:
        ordered = ordered.values_list(*dict.fromkeys((*columns, field, pk)), named=True)
    rows = list(ordered[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    first_row, last_row = (rows[0], rows[-1]) if rows else (None, None)
    has_next = more if not backwards else cursor is not None
    has_previous = (cursor is not None) if not backwards else more
    return KeysetPage(
        rows=rows,
        next_cursor=encode_cursor(getattr(last_row, field), getattr(last_row, pk))
        if has_next and rows
        else None,
        previous_cursor=encode_cursor(getattr(first_row, field), getattr(first_row, pk))
        if has_previous and rows
        else None,
        is_first=not has_previous,
    )


def _kind(queryset: QuerySet, field: str) -> str:
    if field in queryset.query.annotations:
        return "text"
    internal = queryset.model._meta.get_field(field).get_internal_type()
    return "datetime" if internal == "DateTimeField" else "int"


# What a memo of a count says (the count itself is never kept: below the limit it is exact).
_BEYOND_LIMIT = "beyond-limit"
_TOO_SLOW = "too-slow"


def page_count(queryset: QuerySet, page: KeysetPage, limit: int = COUNT_LIMIT) -> tuple[int, bool]:
    """The count a list shows: (count, exact), where inexact means "more than count".

    A first page with no next page is the whole result: counted without a query.
    Otherwise the count stops at ``limit`` rows and at PORTAL_LIST_COUNT_TIMEOUT_MS
    (``statement_timeout`` for that one statement); a count cut short by the
    timeout says "more than" the rows on the page, so a filter combination no
    index serves never holds the page longer than the timeout.

    Either inexact outcome is remembered by the process for
    PORTAL_LIST_COUNT_MEMO_SECONDS: "more than 10,000" stays true as rows arrive
    (the read models never delete; a status filter whose rows move on may say it
    for those seconds after it stopped being true), and a combination too slow
    to count is not tried again on every page. An exact count is never remembered.
    """
    if page.is_first and page.next_cursor is None:
        return len(page.rows), True
    sql, params = queryset.order_by().values("pk")[: limit + 1].query.sql_with_params()
    memo_seconds = int(settings.PORTAL_LIST_COUNT_MEMO_SECONDS)
    key = ""
    if memo_seconds:
        key = "list-count:" + hashlib.sha256(f"{limit}|{sql}|{params!r}".encode()).hexdigest()
        known = caches["local"].get(key)
        if known == _BEYOND_LIMIT:
            return limit, False
        if known == _TOO_SLOW:
            return len(page.rows), False
    timeout_ms = int(settings.PORTAL_LIST_COUNT_TIMEOUT_MS)
    try:
        count, exact = _count_within(sql, params, limit, timeout_ms)
    except OperationalError as error:
        if not isinstance(error.__cause__, psycopg.errors.QueryCanceled):
            raise
        if key:
            caches["local"].set(key, _TOO_SLOW, memo_seconds)
        return len(page.rows), False
    if key and not exact:
        caches["local"].set(key, _BEYOND_LIMIT, memo_seconds)
    return count, exact


def _count_within(sql: str, params, limit: int, timeout_ms: int) -> tuple[int, bool]:
    """Count the rows of ``sql`` (already cut at ``limit + 1``) under ``timeout_ms`` (0: none)."""
    count_sql = f"SELECT COUNT(*) FROM ({sql}) AS bounded"  # noqa: S608 (compiled by Django; values are params)
    with connection.cursor() as cursor:
        if not timeout_ms:
            cursor.execute(count_sql, params)
            counted = cursor.fetchone()[0]
        elif connection.in_atomic_block or not isinstance(cursor.cursor, psycopg.ClientCursor):
            # In the caller's transaction a local setting lasts until its end (releasing a
            # savepoint keeps it): the previous timeout is put back after the count, and a
            # cancelled count rolls back to the savepoint, which restores it too.
            with transaction.atomic():
                cursor.execute(
                    "SELECT current_setting('statement_timeout'),"
                    " set_config('statement_timeout', %s, true)",
                    [f"{timeout_ms}ms"],
                )
                previous = cursor.fetchone()[0]
                cursor.execute(count_sql, params)
                counted = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        else:
            # One round trip: the two statements form one implicit transaction, and the
            # timeout ends with it.
            cursor.execute(f"SET LOCAL statement_timeout = '{timeout_ms}ms'; {count_sql}", params)
            cursor.nextset()
            counted = cursor.fetchone()[0]
    return min(counted, limit), counted <= limit


@dataclass(frozen=True)
class SortedView:
    """A list's rows as its filters and sort select them: one source for its page and its export."""

    filters: Any
    queryset: QuerySet  # filtered, not yet ordered
    sort: str
    field: str
    descending: bool

    def ordered(self, pk: str) -> QuerySet:
        """Every matching row in the list's order (``pk`` breaks ties, as the pages do)."""
        prefix = "-" if self.descending else ""
        return self.queryset.order_by(f"{prefix}{self.field}", f"{prefix}{pk}")


def sorted_view(filter_class, queryset: QuerySet, params, sorts: dict, default: str) -> SortedView:
    """Apply a list's filters (nothing matches when they are invalid) and pick its sort."""
    filters = filter_class(params, queryset=queryset)
    matching = filters.qs if filters.is_valid() else queryset.none()
    sort = params.get("sort") if params.get("sort") in sorts else default
    field, descending = sorts[sort]
    return SortedView(filters, matching, sort, field, descending)
