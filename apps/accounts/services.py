"""Writes concerning accounts. The read model is written only by the event intake; exporting
what one sees is recorded. (Freezes are requested through apps.approvals.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, QueryDict

from apps.accounts.filters import AccountFilter
from apps.accounts.models import Account
from apps.accounts.selectors import ACCOUNT_SORTS, DEFAULT_SORT
from apps.audit.services import Actor, record
from apps.home.csv_export import csv_lines
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
    filters = AccountFilter(params, queryset=Account.objects.all())
    queryset = filters.qs if filters.is_valid() else Account.objects.none()
    sort = params.get("sort") if params.get("sort") in ACCOUNT_SORTS else DEFAULT_SORT
    field, descending = ACCOUNT_SORTS[sort]
    prefix = "-" if descending else ""
    queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}account_id")
    record(
        action="accounts.export",
        actor=Actor.for_user(user),
        target_type="account_list",
        params={
            "filters": {k: v for k, v in params.items() if k not in {"format", "after", "before"}},
            "sort": sort,
        },
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
