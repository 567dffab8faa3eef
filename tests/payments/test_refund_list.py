"""The refunds list and page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.payments.models import Refund
from tests.approvals.conftest import make_payment

pytestmark = pytest.mark.django_db


def make_refund(**fields) -> Refund:
    now = timezone.now()
    values = {
        "refund_id": uuid.uuid4(),
        "payment_id": uuid.uuid4(),
        "amount_cents": 500,
        "currency": "EUR",
        "status": "succeeded",
        "failure_reason": "",
        "reference": "",
        "created_at": now - timedelta(hours=1),
        "updated_at": now,
        "sequence": 2,
        "synced_at": now,
    }
    values.update(fields)
    return Refund.objects.create(**values)


def ids(response) -> list[str]:
    return [str(r.refund_id) for r in response.context["listing"].page.rows]


def test_search_by_refund_id_prefix_payment_id_and_portal_reference(agent_client):
    payment = make_payment()
    mine = make_refund(
        payment_id=payment.payment_id, reference="3f2c7a60-0000-4000-8000-000000000001"
    )
    make_refund()
    assert ids(agent_client.get(f"/payments/refunds/?q={str(mine.refund_id)[:7]}")) == [
        str(mine.refund_id)
    ]
    assert ids(agent_client.get(f"/payments/refunds/?q={payment.payment_id}")) == [
        str(mine.refund_id)
    ]
    assert ids(agent_client.get(f"/payments/refunds/?q={mine.reference}")) == [str(mine.refund_id)]


def test_filters_and_the_refund_page(auditor_client):
    failed = make_refund(
        status="failed", failure_reason="card expired", currency="JPY", amount_cents=700
    )
    make_refund(status="succeeded")
    assert ids(auditor_client.get("/payments/refunds/?status=failed")) == [str(failed.refund_id)]
    page = auditor_client.get(f"/payments/refunds/{failed.refund_id}/").content.decode()
    assert "card expired" in page
    assert "¥700" in page
    assert "not synced yet" in page
