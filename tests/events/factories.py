"""Events as the Go services publish them, for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.standin.events import ACCOUNTS_SOURCE, PAYMENTS_SOURCE, build_event, rfc3339

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def account_data(account_id: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "account_id": account_id,
        "owner_id": str(uuid.uuid4()),
        "owner_name": "Grace Hopper",
        "owner_email": "grace@example.com",
        "currency": "EUR",
        "balance_cents": 12_345,
        "status": "active",
        "created_at": rfc3339(T0),
        "updated_at": rfc3339(T0),
    }
    data.update(overrides)
    return data


def payment_data(
    payment_id: str, account_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    data = {
        "payment_id": payment_id,
        "account_id": account_id or str(uuid.uuid4()),
        "amount_cents": 5_000,
        "refunded_cents": 0,
        "currency": "EUR",
        "status": "settled",
        "description": "Order 42",
        "merchant_reference": "ORD-42",
        "created_at": rfc3339(T0),
        "updated_at": rfc3339(T0),
    }
    data.update(overrides)
    return data


def refund_data(refund_id: str, payment_id: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "refund_id": refund_id,
        "payment_id": payment_id,
        "amount_cents": 1_000,
        "currency": "EUR",
        "status": "pending",
        "failure_reason": "",
        "reference": "",
        "created_at": rfc3339(T0),
        "updated_at": rfc3339(T0),
    }
    data.update(overrides)
    return data


def account_event(
    account_id: str, sequence: int, type_: str = "account.updated", **data: Any
) -> dict[str, Any]:
    return build_event(
        type=type_,
        subject=account_id,
        sequence=sequence,
        data=account_data(account_id, **data),
        source=ACCOUNTS_SOURCE,
        time=T0 + timedelta(seconds=sequence),
    )


def payment_event(
    payment_id: str, sequence: int, type_: str = "payment.updated", **data: Any
) -> dict[str, Any]:
    return build_event(
        type=type_,
        subject=payment_id,
        sequence=sequence,
        data=payment_data(payment_id, **data),
        source=PAYMENTS_SOURCE,
        time=T0 + timedelta(seconds=sequence),
    )


def refund_event(
    refund_id: str, payment_id: str, sequence: int, type_: str = "refund.updated", **data: Any
) -> dict[str, Any]:
    return build_event(
        type=type_,
        subject=refund_id,
        sequence=sequence,
        data=refund_data(refund_id, payment_id, **data),
        source=PAYMENTS_SOURCE,
        time=T0 + timedelta(seconds=sequence),
    )
