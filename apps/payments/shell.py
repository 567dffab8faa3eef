"""What the payments app contributes to the header search (registered in ``PaymentsConfig.ready``):
payment ids (whole or from 8 characters), merchant references and refund ids.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.home import registry
from apps.home.search import by_id
from apps.payments.currencies import to_major_units
from apps.payments.filters import REFERENCE
from apps.payments.models import Payment, Refund


def _payment_hit(payment: Payment) -> registry.SearchHit:
    amount = to_major_units(payment.amount_cents, payment.currency)
    return registry.SearchHit(
        kind="Payment",
        label=f"{str(payment.payment_id)[:8]} · {amount} {payment.currency}",
        url=reverse("payments:detail", kwargs={"payment_id": payment.payment_id}),
        detail=" · ".join(filter(None, [payment.get_status_display(), payment.merchant_reference])),
    )


def find_payments(user: Any, text: str, limit: int) -> list[registry.SearchHit]:
    """Every role may open payments: the id (primary-key range for a prefix) or the merchant reference."""
    found = by_id(Payment.objects.all(), text)
    if found is None:
        # Compared in the C collation, as the reference index is built: any other collation
        # would read the whole table.
        found = (
            Payment.objects.alias(reference=REFERENCE)
            .filter(reference=text)
            .order_by("-created_at")
        )
    return [_payment_hit(payment) for payment in found[:limit]]


def find_refunds(user: Any, text: str, limit: int) -> list[registry.SearchHit]:
    found = by_id(Refund.objects.all(), text)
    if found is None:
        return []
    return [
        registry.SearchHit(
            kind="Refund",
            label=f"{str(refund.refund_id)[:8]} · {to_major_units(refund.amount_cents, refund.currency)} {refund.currency}",
            url=reverse("payments:refund_detail", kwargs={"refund_id": refund.refund_id}),
            detail=refund.get_status_display(),
        )
        for refund in found[:limit]
    ]


def register() -> None:
    registry.register_search_source(registry.SearchSource("payments", find_payments, order=10))
    registry.register_search_source(registry.SearchSource("refunds", find_refunds, order=20))
