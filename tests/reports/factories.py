"""Read-model rows as the event intake writes them (factory-boy), for report contents."""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    payment_id = factory.LazyFunction(uuid.uuid4)
    account_id = factory.LazyFunction(uuid.uuid4)
    amount_cents = factory.Sequence(lambda n: 1_000 + n * 7)
    refunded_cents = 0
    currency = "EUR"
    status = PaymentStatus.SETTLED
    description = factory.Sequence(lambda n: f"Order {n}")
    merchant_reference = factory.Sequence(lambda n: f"ORD-{n:06d}")
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    updated_at = factory.LazyFunction(timezone.now)
    sequence = 3
    synced_at = factory.LazyFunction(timezone.now)


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    refund_id = factory.LazyFunction(uuid.uuid4)
    payment = factory.SubFactory(PaymentFactory)
    amount_cents = 500
    currency = "EUR"
    status = RefundStatus.SUCCEEDED
    failure_reason = ""
    reference = ""
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    updated_at = factory.LazyFunction(timezone.now)
    sequence = 2
    synced_at = factory.LazyFunction(timezone.now)
