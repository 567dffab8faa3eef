"""Reads over the accounts read model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.filters import AccountFilter
from apps.accounts.models import Account
from apps.home import freshness
from apps.home.paging import KeysetPage, SortedView, keyset_page, page_count, sorted_view
from apps.payments.models import Payment

ACCOUNT_SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-balance_cents": ("balance_cents", True),
    "balance_cents": ("balance_cents", False),
}
DEFAULT_SORT = "-created_at"
# What a row of the list shows (the table's columns), read as named tuples, not model instances.
ACCOUNT_ROW_FIELDS = (
    "account_id",
    "owner_name",
    "owner_email",
    "status",
    "balance_cents",
    "currency",
    "created_at",
)


@dataclass(frozen=True)
class AccountListing:
    filters: AccountFilter
    page: KeysetPage
    count: int
    count_exact: bool
    sort: str


def account_listing(params, *, page_size: int = 50) -> AccountListing:
    view = accounts_view(params)
    page = keyset_page(
        view.queryset,
        field=view.field,
        descending=view.descending,
        pk="account_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
        columns=ACCOUNT_ROW_FIELDS,
    )
    count, exact = page_count(view.queryset, page)
    return AccountListing(
        filters=view.filters, page=page, count=count, count_exact=exact, sort=view.sort
    )


def accounts_view(params) -> SortedView:
    """The accounts list's filters and sort applied (its pages and its CSV export)."""
    return sorted_view(AccountFilter, Account.objects.all(), params, ACCOUNT_SORTS, DEFAULT_SORT)


def newest_sync():
    return freshness.newest_sync()


def account_detail(account_id: uuid.UUID) -> Account:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise Http404("This account has not reached the portal.")
    return account


def recent_payments_of(account_id: uuid.UUID, limit: int = 50) -> QuerySet[Payment]:
    return (
        Payment.objects.filter(account_id=account_id)
        .select_related("account")  # the payments table shows the owner
        .order_by("-created_at", "-payment_id")[:limit]
    )
