"""Reads over the payments and refunds read models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.events.selectors import newest_applied_at
from apps.home.paging import KeysetPage, SortedView, bounded_count, keyset_page, sorted_view
from apps.payments.filters import PaymentFilter
from apps.payments.models import Payment, Refund

# sort parameter → (field, descending)
PAYMENT_SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-amount_cents": ("amount_cents", True),
    "amount_cents": ("amount_cents", False),
}
DEFAULT_SORT = "-created_at"


@dataclass(frozen=True)
class PaymentListing:
    filters: PaymentFilter
    page: KeysetPage
    count: int
    count_exact: bool
    sort: str


def payment_listing(params, *, page_size: int = 50) -> PaymentListing:
    """The payments matching ``params`` (filters, search, sort, cursor): one page and a bounded count."""
    view = payments_view(params)
    page = keyset_page(
        view.queryset.select_related("account"),
        field=view.field,
        descending=view.descending,
        pk="payment_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
    )
    count, exact = bounded_count(view.queryset)
    return PaymentListing(
        filters=view.filters, page=page, count=count, count_exact=exact, sort=view.sort
    )


def payments_view(params) -> SortedView:
    """The payments list's filters and sort applied (its pages and its CSV export)."""
    return sorted_view(PaymentFilter, Payment.objects.all(), params, PAYMENT_SORTS, DEFAULT_SORT)


def newest_sync() -> object:
    return newest_applied_at()


def payment_detail(payment_id: uuid.UUID) -> Payment:
    payment = Payment.objects.select_related("account").filter(pk=payment_id).first()
    if payment is None:
        raise Http404("This payment has not reached the portal.")
    return payment


def refunds_of(payment: Payment) -> QuerySet[Refund]:
    return Refund.objects.filter(payment_id=payment.pk).order_by("-created_at")


REFUND_SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-amount_cents": ("amount_cents", True),
    "amount_cents": ("amount_cents", False),
}


@dataclass(frozen=True)
class RefundListing:
    filters: object
    page: KeysetPage
    count: int
    count_exact: bool
    sort: str


def refund_listing(params, *, page_size: int = 50) -> RefundListing:
    view = refunds_view(params)
    page = keyset_page(
        view.queryset.select_related("payment"),
        field=view.field,
        descending=view.descending,
        pk="refund_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
    )
    count, exact = bounded_count(view.queryset)
    return RefundListing(
        filters=view.filters, page=page, count=count, count_exact=exact, sort=view.sort
    )


def refunds_view(params) -> SortedView:
    """The refunds list's filters and sort applied (its pages and its CSV export)."""
    from apps.payments.refund_filters import RefundFilter

    return sorted_view(RefundFilter, Refund.objects.all(), params, REFUND_SORTS, DEFAULT_SORT)


def newest_refund_sync():
    return newest_applied_at()


def refund_detail(refund_id: uuid.UUID) -> Refund:
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None:
        raise Http404("This refund has not reached the portal.")
    return refund
