"""Each report's columns and rows, read with server-side cursors in chunks (constant memory).

Rows hold plain values: aware datetimes, ``Decimal`` amounts in major units
(next to the integer minor units), integers and text. The writers turn them
into CSV text or typed XLSX cells.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.audit.selectors import entries_between
from apps.audit.services import EXPORT_COLUMNS
from apps.payments.currencies import minor_units, to_major_units
from apps.payments.services import CSV_COLUMNS as PAYMENT_CSV_COLUMNS
from apps.reports import selectors
from apps.reports.models import ReportKind
from apps.reports.parameters import ReportParameters

CHUNK_SIZE = 2_000
Row = list[Any]


@dataclass(frozen=True)
class ReportDefinition:
    kind: str
    title: str
    columns: tuple[str, ...]
    count: Callable[[ReportParameters], int]
    rows: Callable[[ReportParameters], Iterator[Row]]


def _amount(minor: int | None, currency: str) -> Any:
    """Major units for people; None where the minor units cannot be read (unknown currency)."""
    if minor is None or minor_units(currency) is None:
        return None
    return to_major_units(minor, currency)


# --- payments -------------------------------------------------------------------------------

PAYMENT_COLUMNS = tuple(c for c in PAYMENT_CSV_COLUMNS if c != "synced_at")


def _payment_rows(parameters: ReportParameters) -> Iterator[Row]:
    values = selectors.payments_in(parameters).values_list(
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
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        yield [
            pid,
            account,
            created,
            updated,
            status,
            currency,
            _amount(amount, currency),
            _amount(refunded, currency),
            amount,
            refunded,
            ref,
            desc,
        ]


# --- refunds --------------------------------------------------------------------------------

REFUND_COLUMNS = (
    "source",
    "request_reference",
    "requested_at",
    "requested_by",
    "category",
    "reason",
    "request_status",
    "payment_id",
    "currency",
    "amount",
    "amount_cents",
    "approved_by",
    "rejected_by",
    "decided_at",
    "refund_id",
    "refund_status",
    "refund_created_at",
    "refund_failure_reason",
)


def _parse_time(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _deciders(decisions: list[dict] | None, kind: str) -> str:
    return "; ".join(d["by"] for d in decisions or () if d["kind"] == kind)


def _refund_rows(parameters: ReportParameters) -> Iterator[Row]:
    requests = selectors.refund_requests_with_outcomes_in(parameters).values_list(
        "id",
        "requested_at",
        "requested_by__email",
        "category",
        "reason",
        "status",
        "payment_id",
        "currency",
        "amount_cents",
        "decisions_made",
        "decided_at",
        "refund_made",
    )
    for (
        reference,
        requested_at,
        requester,
        category,
        reason,
        status,
        payment_id,
        currency,
        amount,
        decisions,
        decided_at,
        refund,
    ) in requests.iterator(chunk_size=CHUNK_SIZE):
        refund = refund or {}
        yield [
            "portal",
            reference,
            requested_at,
            requester,
            category,
            reason,
            status,
            payment_id,
            currency,
            _amount(amount, currency),
            amount,
            _deciders(decisions, "approve"),
            _deciders(decisions, "reject"),
            decided_at,
            refund.get("refund_id", ""),
            refund.get("status", ""),
            _parse_time(refund.get("created_at")),
            refund.get("failure_reason", ""),
        ]
    outside = selectors.refunds_outside_the_portal_in(parameters).values_list(
        "refund_id",
        "reference",
        "payment_id",
        "currency",
        "amount_cents",
        "status",
        "created_at",
        "failure_reason",
    )
    for (
        refund_id,
        reference,
        payment_id,
        currency,
        amount,
        status,
        created,
        failure,
    ) in outside.iterator(chunk_size=CHUNK_SIZE):
        yield [
            "payments service",
            reference,
            None,
            "",
            "",
            "",
            "",
            payment_id,
            currency,
            _amount(amount, currency),
            amount,
            "",
            "",
            None,
            refund_id,
            status,
            created,
            failure,
        ]


def _count_refunds(parameters: ReportParameters) -> int:
    return (
        selectors.refund_requests_in(parameters).order_by().count()
        + selectors.refunds_outside_the_portal_in(parameters).order_by().count()
    )


# --- action log -----------------------------------------------------------------------------

ACTION_LOG_COLUMNS = EXPORT_COLUMNS


def _action_log_rows(parameters: ReportParameters) -> Iterator[Row]:
    entries = entries_between(parameters.start, parameters.end).values_list(*ACTION_LOG_COLUMNS)
    for row in entries.iterator(chunk_size=CHUNK_SIZE):
        row = list(row)
        row[4] = " ".join(row[4])  # actor_roles
        row[10] = json.dumps(row[10], sort_keys=True)  # params
        yield row


DEFINITIONS: dict[str, ReportDefinition] = {
    ReportKind.PAYMENTS: ReportDefinition(
        kind=ReportKind.PAYMENTS,
        title="Payments",
        columns=PAYMENT_COLUMNS,
        count=lambda p: selectors.payments_in(p).order_by().count(),
        rows=_payment_rows,
    ),
    ReportKind.REFUNDS: ReportDefinition(
        kind=ReportKind.REFUNDS,
        title="Refunds",
        columns=REFUND_COLUMNS,
        count=_count_refunds,
        rows=_refund_rows,
    ),
    ReportKind.ACTION_LOG: ReportDefinition(
        kind=ReportKind.ACTION_LOG,
        title="Action log",
        columns=ACTION_LOG_COLUMNS,
        count=lambda p: entries_between(p.start, p.end).order_by().count(),
        rows=_action_log_rows,
    ),
}
