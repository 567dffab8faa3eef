"""The accounts read model.

Written only by the event consumer (``apps.events``) from the accounts
service's ``account.*`` events; nothing else in the portal inserts, updates or
deletes these rows. Field names are exactly the contract's ``data`` fields
(``shared/contracts/events.md``).
"""

from __future__ import annotations

from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models.functions import Upper


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FROZEN = "frozen", "Frozen"
    CLOSED = "closed", "Closed"


class Account(models.Model):
    account_id = models.UUIDField(primary_key=True)
    owner_id = models.UUIDField()
    owner_name = models.CharField(max_length=255)
    owner_email = models.CharField(max_length=320)
    currency = models.CharField(max_length=3)
    balance_cents = models.BigIntegerField(
        help_text="Minor units of the currency; may be negative."
    )
    status = models.CharField(max_length=16, choices=AccountStatus.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sequence = models.BigIntegerField(help_text="Sequence of the last applied event.")
    synced_at = models.DateTimeField(help_text="When the portal last applied an event to this row.")

    class Meta:
        db_table = "accounts_account"
        indexes = [
            models.Index(
                fields=["status", "created_at", "account_id"], name="account_status_created"
            ),
            models.Index(fields=["created_at", "account_id"], name="account_created"),
            models.Index(
                fields=["currency", "created_at", "account_id"], name="account_currency_created"
            ),
            models.Index(fields=["balance_cents", "account_id"], name="account_balance"),
            models.Index(fields=["owner_id"], name="account_owner"),
            models.Index(fields=["owner_email"], name="account_owner_email"),
            # Search: email and name prefixes, case-insensitive (UPPER(..) LIKE 'X%').
            models.Index(
                OpClass(Upper("owner_email"), name="varchar_pattern_ops"),
                name="account_email_prefix",
            ),
            models.Index(
                OpClass(Upper("owner_name"), name="varchar_pattern_ops"), name="account_name_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_name} ({self.account_id})"
