"""Read-model rows for the approvals tests (written directly: the consumer is tested elsewhere)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Account, AccountStatus
from apps.approvals import clients, services
from apps.payments.models import Payment, PaymentStatus
from devtools.standin.server import start_standin


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


# --- the Go stand-in over real HTTP ---------------------------------------------------


@pytest.fixture
def standin(bus, settings):
    running = start_standin(broker_url=bus.broker_url, exchange=bus.exchange, seed=5)
    settings.PAYMENTS_API_URL = settings.ACCOUNTS_API_URL = running.url
    settings.PAYMENTS_API_TOKEN = "payments-token"
    settings.ACCOUNTS_API_TOKEN = "accounts-token"
    settings.GO_API_TIMEOUT = 0.5
    settings.GO_API_CONNECT_TIMEOUT = 0.5
    clients.reset_clients()
    yield running
    running.stop()
    clients.reset_clients()


def approved_refund(agent, manager, payment_id, amount=1_000):
    refund_request = services.request_refund(
        requester=agent,
        payment_id=payment_id,
        amount_cents=amount,
        category="duplicate_charge",
        reason="charged twice",
    )
    return services.approve_request(
        approval_request=refund_request,
        approver=manager,
        comment="verified",
        authenticated_at=timezone.now(),
    )


def mirrored_payment(standin, **fields):
    """A payment at the stand-in and the same payment in the read model (as the intake would write it)."""
    remote = standin.services.create_payment(status="settled", **fields)
    make_payment(
        payment_id=remote.payment_id,
        account_id=remote.account_id,
        amount_cents=remote.amount_cents,
        currency=remote.currency,
    )
    return remote


def send_until_settled(call_id: int, attempts: int = 10) -> str:
    """What the Celery task does, attempt after attempt, waiting out each (test-short) backoff."""
    while attempts:
        outcome = services.perform_outbound_call(call_id=call_id)
        if outcome.status == "not_due":  # a backoff started before this helper was called
            time.sleep(0.05)
            continue
        if outcome.retry_in is None:
            return outcome.status
        attempts -= 1
        time.sleep(outcome.retry_in)
    raise AssertionError("the call never settled")


def approve_now(approval_request, manager, comment: str = "checked"):
    """A manager approves through the service, signed in just now (no step-up)."""
    from django.utils import timezone

    return services.approve_request(
        approval_request=approval_request,
        approver=manager,
        comment=comment,
        authenticated_at=timezone.now(),
    )
