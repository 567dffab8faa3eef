"""Writes concerning payments. The read models themselves are written only by the event intake;
what people do here is export what they see, which is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, QueryDict

from apps.audit.services import Actor, record
from apps.home.csv_export import csv_lines
from apps.payments.currencies import to_major_units
from apps.payments.filters import PaymentFilter
from apps.payments.models import Payment, Refund
from apps.payments.selectors import DEFAULT_SORT, PAYMENT_SORTS

CSV_COLUMNS = (
    "payment_id",
    "account_id",
    "created_at",
    "updated_at",
    "status",
    "currency",
    "amount",
    "refunded",
    "amount_cents",
    "refunded_cents",
    "merchant_reference",
    "description",
    "synced_at",
)


def export_payments_csv(
    *, user: Any, params: QueryDict, request: HttpRequest | None = None
) -> Iterator[str]:
    """Exactly the filtered, sorted view as CSV, streamed row by row (constant memory).

    The export is recorded (with its filters) before the first row is sent.
    """
    filters = PaymentFilter(params, queryset=Payment.objects.all())
    queryset = filters.qs if filters.is_valid() else Payment.objects.none()
    sort = params.get("sort") if params.get("sort") in PAYMENT_SORTS else DEFAULT_SORT
    field, descending = PAYMENT_SORTS[sort]
    prefix = "-" if descending else ""
    queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}payment_id")
    record(
        action="payments.export",
        actor=Actor.for_user(user),
        target_type="payment_list",
        params={
            "filters": {k: v for k, v in params.items() if k not in {"format", "after", "before"}},
            "sort": sort,
        },
        request=request,
    )

    def rows() -> Iterator[list[Any]]:
        values = queryset.values_list(
            "payment_id",
            "account_id",
            "created_at",
            "updated_at",
            "status",
            "currency",
            "amount_cents",
            "refunded_cents",
            "merchant_reference",
            "description",
            "synced_at",
        )
        for (
            pid,
            account,
            created,
            updated,
            status,
            currency,
            amount,
            refunded,
            ref,
            desc,
            synced,
        ) in values.iterator(chunk_size=2_000):
            yield [
                pid,
                account,
                created.isoformat(),
                updated.isoformat(),
                status,
                currency,
                to_major_units(amount, currency),
                to_major_units(refunded, currency),
                amount,
                refunded,
                ref,
                desc,
                synced.isoformat(),
            ]

    return csv_lines(CSV_COLUMNS, rows())


def export_refunds_csv(
    *, user: Any, params: QueryDict, request: HttpRequest | None = None
) -> Iterator[str]:
    """Exactly the filtered, sorted refunds view as CSV, streamed; recorded first."""
    from apps.payments.refund_filters import RefundFilter
    from apps.payments.selectors import REFUND_SORTS

    filters = RefundFilter(params, queryset=Refund.objects.all())
    queryset = filters.qs if filters.is_valid() else Refund.objects.none()
    sort = params.get("sort") if params.get("sort") in REFUND_SORTS else DEFAULT_SORT
    field, descending = REFUND_SORTS[sort]
    prefix = "-" if descending else ""
    queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}refund_id")
    record(
        action="refunds.export",
        actor=Actor.for_user(user),
        target_type="refund_list",
        params={
            "filters": {k: v for k, v in params.items() if k not in {"format", "after", "before"}},
            "sort": sort,
        },
        request=request,
    )
    columns = (
        "refund_id",
        "payment_id",
        "created_at",
        "status",
        "currency",
        "amount",
        "amount_cents",
        "failure_reason",
        "reference",
    )

    def rows() -> Iterator[list[Any]]:
        values = queryset.values_list(
            "refund_id",
            "payment_id",
            "created_at",
            "status",
            "currency",
            "amount_cents",
            "failure_reason",
            "reference",
        )
        for rid, pid, created, status, currency, amount, failure, reference in values.iterator(
            chunk_size=2_000
        ):
            yield [
                rid,
                pid,
                created.isoformat(),
                status,
                currency,
                to_major_units(amount, currency),
                amount,
                failure,
                reference,
            ]

    return csv_lines(columns, rows())
