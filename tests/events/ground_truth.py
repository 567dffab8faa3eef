"""The read models, the ledger and the counters compared with a generated traffic's ground truth."""

from __future__ import annotations

import uuid

from django.db.models import Count

from apps.accounts.models import Account
from apps.events.models import IntakeCounter, ReceivedEvent
from apps.payments.models import Payment, Refund
from devtools.standin.traffic import Traffic

MODELS = {"account": Account, "payment": Payment, "refund": Refund}


def as_contract(row, kind: str) -> dict:
    """A read-model row written back in the contract's terms, to compare with published data."""
    fields = {
        "account": [
            "account_id",
            "owner_id",
            "owner_name",
            "owner_email",
            "currency",
            "balance_cents",
            "status",
        ],
        "payment": [
            "payment_id",
            "account_id",
            "amount_cents",
            "refunded_cents",
            "currency",
            "status",
            "description",
            "merchant_reference",
        ],
        "refund": [
            "refund_id",
            "payment_id",
            "amount_cents",
            "currency",
            "status",
            "failure_reason",
            "reference",
        ],
    }[kind]
    values = {name: getattr(row, name) for name in fields}
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}


def assert_applied_exactly_once(traffic: Traffic) -> None:
    """Every subject holds its newest state; each distinct event is in the ledger once; counts add up."""
    expected = traffic.expected_state()
    sequences = traffic.expected_sequences()
    for kind, model in MODELS.items():
        rows = {str(row.pk): row for row in model.objects.all()}
        assert set(rows) == set(expected[kind]), f"{kind}: rows missing or extra"
        for subject, data in expected[kind].items():
            assert as_contract(rows[subject], kind) == {
                k: data[k] for k in as_contract(rows[subject], kind)
            }
            assert rows[subject].sequence == sequences[kind][subject]

    # Each distinct event is in the ledger exactly once; the counters add up.
    assert (
        not ReceivedEvent.objects.values("source", "event_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    totals = {
        name: sum(getattr(row, name) for row in IntakeCounter.objects.all())
        for name in ("received", "applied", "duplicates", "stale", "ignored", "dead_letters")
    }
    assert totals["applied"] + totals["stale"] == traffic.valid_events
    assert totals["received"] == sum(v for k, v in totals.items() if k != "received")
    assert totals["received"] >= len(traffic.messages)
