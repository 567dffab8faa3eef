"""Indexes for every filter path of the payments list, built without locking out writes.

``CREATE INDEX CONCURRENTLY`` cannot run inside a transaction, hence
``atomic = False``; on a million rows each index takes seconds while the event
intake keeps writing.
"""

import django.db.models.functions.comparison
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0003_balance_index"),
        ("payments", "0003_amount_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                fields=["status", "currency", "created_at", "payment_id"],
                name="payment_status_currency",
            ),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                fields=["currency", "amount_cents", "payment_id"], name="payment_currency_amount"
            ),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                django.db.models.functions.comparison.Collate("merchant_reference", "C"),
                models.F("payment_id"),
                name="payment_reference",
            ),
        ),
        # An account's payments in the list's full order (created_at, payment_id).
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                fields=["account", "created_at", "payment_id"], name="payment_account_keyset"
            ),
        ),
        # Replaced by payment_reference (which also serves the reference order) and
        # payment_account_keyset.
        RemoveIndexConcurrently(model_name="payment", name="payment_merchant_ref"),
        RemoveIndexConcurrently(model_name="payment", name="payment_account_created"),
    ]
