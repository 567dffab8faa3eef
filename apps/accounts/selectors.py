"""Reads over the accounts read model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.filters import AccountFilter
from apps.accounts.models import Account
from apps.events.selectors import newest_applied_at
from apps.home.paging import KeysetPage, bounded_count, keyset_page
from apps.payments.models import Payment

ACCOUNT_SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-balance_cents": ("balance_cents", True),
    "balance_cents": ("balance_cents", False),
}
DEFAULT_SORT = "-created_at"


@dataclass(frozen=True)
class AccountListing:
    filters: AccountFilter
    page: KeysetPage
    count: int
    count_exact: bool
    sort: str


def account_listing(params, *, page_size: int = 50) -> AccountListing:
    filters = AccountFilter(params, queryset=Account.objects.all())
    queryset = filters.qs if filters.is_valid() else Account.objects.none()
    sort = params.get("sort") if params.get("sort") in ACCOUNT_SORTS else DEFAULT_SORT
    field, descending = ACCOUNT_SORTS[sort]
    page = keyset_page(
        queryset,
        field=field,
        descending=descending,
        pk="account_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
    )
    count, exact = bounded_count(queryset)
    return AccountListing(filters=filters, page=page, count=count, count_exact=exact, sort=sort)


def newest_sync():
    return newest_applied_at()


def account_detail(account_id: uuid.UUID) -> Account:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise Http404("This account has not reached the portal.")
    return account


def recent_payments_of(account_id: uuid.UUID, limit: int = 50) -> QuerySet[Payment]:
    return Payment.objects.filter(account_id=account_id).order_by("-created_at", "-payment_id")[
        :limit
    ]
