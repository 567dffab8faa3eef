"""Digests that bind an approval to what was requested and to the state it was checked against."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from apps.accounts.models import Account
from apps.payments.models import Payment


def _digest(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def refund_payload_digest(
    *, payment_id: uuid.UUID, amount_cents: int, currency: str, reason: str
) -> str:
    return _digest(
        {
            "payment_id": str(payment_id),
            "amount_cents": amount_cents,
            "currency": currency,
            "reason": reason,
        }
    )


def payment_state_digest(payment: Payment) -> str:
    return _digest(
        {
            "status": payment.status,
            "amount_cents": payment.amount_cents,
            "refunded_cents": payment.refunded_cents,
            "currency": payment.currency,
        }
    )


def freeze_payload_digest(*, account_id: uuid.UUID, action: str, reason: str) -> str:
    return _digest({"account_id": str(account_id), "action": action, "reason": reason})


def account_state_digest(account: Account) -> str:
    return _digest({"status": account.status})
