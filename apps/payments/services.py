"""Writes concerning payments. The read models themselves are written only by the event intake;
what people do here is export what they see, which is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, QueryDict

from apps.audit.services import Actor, record
from apps.home.csv_export import csv_lines, export_filters
from apps.payments import selectors
from apps.payments.currencies import to_major_units

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
    view = selectors.payments_view(params)
    queryset = view.ordered("payment_id")
    record(
        action="payments.export",
        actor=Actor.for_user(user),
        target_type="payment_list",
        params={"filters": export_filters(params), "sort": view.sort},
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
    view = selectors.refunds_view(params)
    queryset = view.ordered("refund_id")
    record(
        action="refunds.export",
        actor=Actor.for_user(user),
        target_type="refund_list",
        params={"filters": export_filters(params), "sort": view.sort},
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
