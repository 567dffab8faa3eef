"""Read-model rows for the approvals tests (written directly: the consumer is tested elsewhere)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Account, AccountStatus
from apps.approvals import services
from apps.payments.models import Payment, PaymentStatus


def make_account(**fields) -> Account:
    now = timezone.now()
    values = {
        "account_id": uuid.uuid4(),
        "owner_id": uuid.uuid4(),
        "owner_name": "Ada Lovelace",
        "owner_email": "ada@example.com",
        "currency": "EUR",
        "balance_cents": 10_000,
        "status": AccountStatus.ACTIVE,
        "created_at": now - timedelta(days=30),
        "updated_at": now,
        "sequence": 1,
        "synced_at": now,
    }
    values.update(fields)
    return Account.objects.create(**values)


def make_payment(**fields) -> Payment:
    now = timezone.now()
    values = {
        "payment_id": uuid.uuid4(),
        "account_id": uuid.uuid4(),
        "amount_cents": 10_000,
        "refunded_cents": 0,
        "currency": "EUR",
        "status": PaymentStatus.SETTLED,
        "description": "Order 1001",
        "merchant_reference": "ORD-1001",
        "created_at": now - timedelta(days=2),
        "updated_at": now,
        "sequence": 3,
        "synced_at": now,
    }
    values.update(fields)
    return Payment.objects.create(**values)


@pytest.fixture
def payment(db) -> Payment:
    return make_payment()


@pytest.fixture
def account(db) -> Account:
    return make_account()


def refund_request_by(user, payment, amount_cents: int = 2_500, reason: str = "charged twice"):
    """A refund request made through the service, as the form would."""
    return services.request_refund(
        requester=user,
        payment_id=payment.payment_id,
        amount_cents=amount_cents,
        category="duplicate_charge",
        reason=reason,
    )


def approve_now(approval_request, manager, comment: str = "checked"):
    """A manager approves through the service, signed in just now (no step-up)."""
    from django.utils import timezone

    return services.approve_request(
        approval_request=approval_request,
        approver=manager,
        comment=comment,
        authenticated_at=timezone.now(),
    )
