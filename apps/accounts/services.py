"""Writes concerning accounts. The read model is written only by the event intake; exporting
what one sees is recorded. (Freezes are requested through apps.approvals.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, QueryDict

from apps.accounts import selectors
from apps.audit.services import Actor, record
from apps.home.csv_export import csv_lines, export_filters
from apps.payments.currencies import to_major_units

COLUMNS = (
    "account_id",
    "owner_id",
    "owner_name",
    "owner_email",
    "status",
    "currency",
    "balance",
    "balance_cents",
    "created_at",
    "updated_at",
)


def export_accounts_csv(
    *, user: Any, params: QueryDict, request: HttpRequest | None = None
) -> Iterator[str]:
    """Exactly the filtered, sorted accounts view as CSV, streamed; recorded first."""
    view = selectors.accounts_view(params)
    queryset = view.ordered("account_id")
    record(
        action="accounts.export",
        actor=Actor.for_user(user),
        target_type="account_list",
        params={"filters": export_filters(params), "sort": view.sort},
        request=request,
    )

    def rows() -> Iterator[list[Any]]:
        values = queryset.values_list(
            "account_id",
            "owner_id",
            "owner_name",
            "owner_email",
            "status",
            "currency",
            "balance_cents",
            "created_at",
            "updated_at",
        )
        for aid, oid, name, email, status, currency, balance, created, updated in values.iterator(
            chunk_size=2_000
        ):
            yield [
                aid,
                oid,
                name,
                email,
                status,
                currency,
                to_major_units(balance, currency),
                balance,
                created.isoformat(),
                updated.isoformat(),
            ]

    return csv_lines(COLUMNS, rows())
