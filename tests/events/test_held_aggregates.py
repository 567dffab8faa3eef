"""A batch does not wait for an aggregate another batch holds: it applies the rest at once.

The intake's batches nearly always share a few aggregates with the batch of
another consumer. Waiting for their locks made the whole of one batch wait for
the whole of the other; now the free aggregates commit first and only the held
ones wait, in a second transaction that holds nothing else.
"""

from __future__ import annotations

import json
import threading
import uuid

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum

from apps.events.models import IntakeCounter, ReceivedEvent
from apps.events.services import BatchResult, IncomingMessage, apply_event_batch
from apps.events.services.applying import _lock_key
from apps.payments.models import Payment
from tests.events.conftest import wait_until
from tests.events.factories import payment_event

pytestmark = pytest.mark.django_db(transaction=True)


def message(event: dict) -> IncomingMessage:
    return IncomingMessage(
        body=json.dumps(event).encode(), routing_key=event["type"], content_type="application/json"
    )


def counted(name: str) -> int:
    return IntakeCounter.objects.aggregate(total=Sum(name))["total"] or 0


def test_the_free_aggregates_commit_while_a_held_one_waits_and_then_lands():
    held, free = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    failed = payment_event(free[0], 2, status="failed")
    batch = [
        message(payment_event(held, 1, "payment.created")),
        *(message(payment_event(payment_id, 1, "payment.created")) for payment_id in free),
        message(payment_event(held, 2, status="refunded")),
        message(failed),
        message(failed),  # a duplicate in the batch
    ]
    other_batch = psycopg.connect(**connection.get_connection_params())
    other_batch.execute("BEGIN")
    other_batch.execute(
        "SELECT pg_advisory_xact_lock(%s, %s)", _lock_key("payment", uuid.UUID(held))
    )
    outcome: dict[str, BatchResult | BaseException] = {}

    def apply() -> None:
        try:
            outcome["result"] = apply_event_batch(batch, consumer="held-test")
        except BaseException as error:
            outcome["result"] = error
        finally:
            connection.close()

    applier = threading.Thread(target=apply)
    applier.start()
    try:
        # The free payments are committed and counted while the held one is still locked.
        wait_until(lambda: Payment.objects.filter(pk__in=free).count() == 3, timeout=10)
        assert Payment.objects.get(pk=free[0]).status == "failed"
        assert not Payment.objects.filter(pk=held).exists()
        assert ReceivedEvent.objects.count() == 4
        assert (counted("received"), counted("applied"), counted("duplicates")) == (5, 4, 1)
        applier.join(0.5)
        assert applier.is_alive(), "the held-back events must wait for the lock, not skip it"
    finally:
        other_batch.rollback()
        other_batch.close()
    applier.join(10)
    result = outcome["result"]
    assert isinstance(result, BatchResult), result
    # Both of the held payment's events, in order, as if nothing had been in the way.
    payment = Payment.objects.get(pk=held)
    assert (payment.sequence, payment.status) == (2, "refunded")
    assert ReceivedEvent.objects.count() == 6
    assert (result.received, result.applied, result.duplicates) == (7, 6, 1)
    assert (counted("received"), counted("applied"), counted("duplicates")) == (7, 6, 1)


def test_inside_a_callers_transaction_the_batch_waits_for_every_lock(transactional_db):
    """A replay or a file runs in its own transaction: one transaction, so it waits, all or nothing."""
    from django.db import transaction

    held = str(uuid.uuid4())
    other_batch = psycopg.connect(**connection.get_connection_params())
    other_batch.execute("BEGIN")
    other_batch.execute(
        "SELECT pg_advisory_xact_lock(%s, %s)", _lock_key("payment", uuid.UUID(held))
    )
    outcome: dict[str, object] = {}

    def apply() -> None:
        try:
            with transaction.atomic():
                outcome["result"] = apply_event_batch(
                    [
                        message(payment_event(str(uuid.uuid4()), 1, "payment.created")),
                        message(payment_event(held, 1, "payment.created")),
                    ]
                )
        finally:
            connection.close()

    applier = threading.Thread(target=apply)
    applier.start()
    try:
        applier.join(1.0)
        assert applier.is_alive()
        assert not Payment.objects.exists()  # nothing committed while it waits
    finally:
        other_batch.rollback()
        other_batch.close()
    applier.join(10)
    assert Payment.objects.count() == 2
    assert outcome["result"].applied == 2
