"""CloudEvents envelopes and the aggregates' ``data``, exactly as the contract describes them."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNTS_SOURCE = "/services/accounts"
PAYMENTS_SOURCE = "/services/payments"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_event(
    *,
    type: str,
    subject: str,
    sequence: int,
    data: dict[str, Any],
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A CloudEvents 1.0 structured-mode envelope."""
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": type,
        "subject": subject,
        "time": rfc3339(time or datetime.now(UTC)),
        "datacontenttype": "application/json",
        "sequence": sequence,
        "data": data,
    }


@dataclass
class AccountState:
    account_id: str
    owner_id: str
    owner_name: str
    owner_email: str
    currency: str
    balance_cents: int
    status: str = "active"
    created_at: str = ""
    updated_at: str = ""
    sequence: int = field(default=0, repr=False)

    def data(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("sequence")
        return values


@dataclass
class PaymentState:
    payment_id: str
    account_id: str
    amount_cents: int
    currency: str
    description: str
    merchant_reference: str = ""
    refunded_cents: int = 0
    status: str = "pending"
    created_at: str = ""
    updated_at: str = ""
    sequence: int = field(default=0, repr=False)

    def data(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("sequence")
        return values


@dataclass
class RefundState:
    refund_id: str
    payment_id: str
    amount_cents: int
    currency: str
    reference: str = ""
    status: str = "pending"
    failure_reason: str = ""
    created_at: str = ""
    updated_at: str = ""
    sequence: int = field(default=0, repr=False)

    def data(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("sequence")
        return values


def next_event(
    state: AccountState | PaymentState | RefundState,
    *,
    created: bool,
    now: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Advance the aggregate's sequence and describe its full state as an event."""
    kind, source, subject = _identity(state)
    state.sequence += 1
    state.updated_at = rfc3339(now)
    if created and not state.created_at:
        state.created_at = state.updated_at
    return build_event(
        type=f"{kind}.{'created' if created else 'updated'}",
        subject=subject,
        sequence=state.sequence,
        data=state.data(),
        source=source,
        time=now,
        event_id=event_id,
    )


def _identity(state: AccountState | PaymentState | RefundState) -> tuple[str, str, str]:
    if isinstance(state, AccountState):
        return "account", ACCOUNTS_SOURCE, state.account_id
    if isinstance(state, PaymentState):
        return "payment", PAYMENTS_SOURCE, state.payment_id
    return "refund", PAYMENTS_SOURCE, state.refund_id
