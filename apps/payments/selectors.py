"""Reads over the payments and refunds read models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.home import freshness
from apps.home.paging import KeysetPage, SortedView, keyset_page, page_count, sorted_view
from apps.payments.filters import REFERENCE, PaymentFilter, is_reference_search
from apps.payments.models import Payment, Refund

# sort parameter → (field, descending)
PAYMENT_SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-amount_cents": ("amount_cents", True),
    "amount_cents": ("amount_cents", False),
}
DEFAULT_SORT = "-created_at"
# A merchant-reference search lists in reference order: one index serves the prefix and the
# order (payment_reference), where newest first would walk every newer payment first.
REFERENCE_SORTS = {
    "merchant_reference": ("reference", False),
    "-merchant_reference": ("reference", True),
}


# What a row of the list shows (the table's columns; the CSV export reads its own), read as
# named tuples: only these columns, and no model instances (≈ 1.5 ms less on a 50-row page).
PAYMENT_ROW_FIELDS = (
    "payment_id",
    "created_at",
    "amount_cents",
    "refunded_cents",
    "currency",
    "status",
    "merchant_reference",
    "account__owner_name",
)


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
        view.queryset,
        field=view.field,
        descending=view.descending,
        pk="payment_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
        columns=PAYMENT_ROW_FIELDS,
    )
    count, exact = page_count(view.queryset, page)
    return PaymentListing(
        filters=view.filters, page=page, count=count, count_exact=exact, sort=view.sort
    )


def payments_view(params) -> SortedView:
    """The payments list's filters and sort applied (its pages and its CSV export)."""
    if is_reference_search(params.get("q")):
        payments = Payment.objects.annotate(reference=REFERENCE)
        return sorted_view(PaymentFilter, payments, params, REFERENCE_SORTS, "merchant_reference")
    return sorted_view(PaymentFilter, Payment.objects.all(), params, PAYMENT_SORTS, DEFAULT_SORT)


def payment_sortable(params) -> dict[str, str]:
    """The columns whose header sorts the list (as the current search allows)."""
    if is_reference_search(params.get("q")):
        return {"merchant_reference": "Merchant reference"}
    return {"created_at": "Created", "amount_cents": "Amount"}


def newest_sync():
    """When the intake last applied an event (cached a few seconds: apps.home.freshness)."""
    return freshness.newest_sync()


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


REFUND_ROW_FIELDS = (
    "refund_id",
    "created_at",
    "payment_id",
    "amount_cents",
    "currency",
    "status",
    "failure_reason",
    "reference",
)


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
        view.queryset,
        field=view.field,
        descending=view.descending,
        pk="refund_id",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
        columns=REFUND_ROW_FIELDS,
    )
    count, exact = page_count(view.queryset, page)
    return RefundListing(
        filters=view.filters, page=page, count=count, count_exact=exact, sort=view.sort
    )


def refunds_view(params) -> SortedView:
    """The refunds list's filters and sort applied (its pages and its CSV export)."""
    from apps.payments.refund_filters import RefundFilter

    return sorted_view(RefundFilter, Refund.objects.all(), params, REFUND_SORTS, DEFAULT_SORT)


def refund_detail(refund_id: uuid.UUID) -> Refund:
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None:
        raise Http404("This refund has not reached the portal.")
    return refund
