"""The payments and refunds read models.

Written only by the event consumer (``apps.events``) from the payments
service's ``payment.*`` and ``refund.*`` events; nothing else in the portal
inserts, updates or deletes these rows. Field names are exactly the
contract's ``data`` fields (``shared/contracts/events.md``).

Events arrive in no particular order across aggregates: a payment may land
before its account, a refund before its payment. The relations are therefore
plain columns with no database constraint (``db_constraint=False``); the
related row shows up when its own event arrives.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.db.models.functions import Collate


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AUTHORIZED = "authorized", "Authorized"
    SETTLED = "settled", "Settled"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    payment_id = models.UUIDField(primary_key=True)
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="payments",
        help_text="The account id from the event; the account row may not have arrived yet.",
    )
    amount_cents = models.BigIntegerField()
    refunded_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=24, choices=PaymentStatus.choices)
    description = models.TextField()
    merchant_reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sequence = models.BigIntegerField(help_text="Sequence of the last applied event.")
    synced_at = models.DateTimeField(help_text="When the portal last applied an event to this row.")

    class Meta:
        db_table = "payments_payment"
        indexes = [
            models.Index(fields=["created_at", "payment_id"], name="payment_created"),
            models.Index(
                fields=["status", "created_at", "payment_id"], name="payment_status_created"
            ),
            models.Index(fields=["amount_cents", "payment_id"], name="payment_amount"),
            models.Index(
                fields=["status", "amount_cents", "payment_id"], name="payment_status_amount"
            ),
            models.Index(
                fields=["account", "created_at", "payment_id"], name="payment_account_keyset"
            ),
            models.Index(fields=["currency", "created_at"], name="payment_currency_created"),
            # Rare filter pairs (a rare status in a rare currency) read only their own rows.
            models.Index(
                fields=["status", "currency", "created_at", "payment_id"],
                name="payment_status_currency",
            ),
            # Amounts compare within one currency (minor units differ between currencies).
            models.Index(
                fields=["currency", "amount_cents", "payment_id"], name="payment_currency_amount"
            ),
            # A merchant-reference prefix, listed in reference order: in the C collation one
            # btree serves both ``LIKE 'INV-202606-%'`` and the ORDER BY, so an old month's
            # prefix never walks the newest-first index through every newer row.
            models.Index(
                Collate("merchant_reference", "C"), F("payment_id"), name="payment_reference"
            ),
        ]

    def __str__(self) -> str:
        return str(self.payment_id)

    @property
    def refundable_cents(self) -> int:
        return max(self.amount_cents - self.refunded_cents, 0)


class Refund(models.Model):
    refund_id = models.UUIDField(primary_key=True)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="refunds",
        help_text="The payment id from the event; the payment row may not have arrived yet.",
    )
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=RefundStatus.choices)
    failure_reason = models.TextField(blank=True)
    reference = models.CharField(
        max_length=255, blank=True, help_text="The portal's refund request id, echoed back."
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sequence = models.BigIntegerField(help_text="Sequence of the last applied event.")
    synced_at = models.DateTimeField(help_text="When the portal last applied an event to this row.")

    class Meta:
        db_table = "payments_refund"
        indexes = [
            models.Index(fields=["created_at", "refund_id"], name="refund_created"),
            models.Index(
                fields=["status", "created_at", "refund_id"], name="refund_status_created"
            ),
            models.Index(fields=["payment", "created_at"], name="refund_payment_created"),
            models.Index(fields=["reference"], name="refund_reference"),
        ]

    def __str__(self) -> str:
        return str(self.refund_id)
