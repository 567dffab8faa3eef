"""The worker is SIGKILLed while events flow; afterwards the read models equal the ground truth."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest
from django.db.models import Count

from apps.accounts.models import Account
from apps.events.models import DeadLetter, IntakeCounter, ReceivedEvent
from apps.payments.models import Payment, Refund
from devtools.standin.traffic import generate_traffic
from tests.conftest import ARTIFACTS
from tests.events.conftest import start_worker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

MODELS = {"account": Account, "payment": Payment, "refund": Refund}


def _as_contract(row, kind: str) -> dict:
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


def _kill(worker) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def test_sigkill_mid_stream_loses_nothing_and_applies_nothing_twice(bus, tmp_path):
    traffic = generate_traffic(
        aggregates=400,
        events=3_000,
        duplicate_rate=0.05,
        reorder_rate=0.05,
        malformed_rate=0.01,
        seed=7,
    )
    log_path = ARTIFACTS / f"crash-test-worker-{uuid.uuid4().hex[:6]}.log"
    ARTIFACTS.mkdir(exist_ok=True)
    worker = start_worker(bus, log_path=log_path)
    try:
        # Let the worker declare the queue before anything is published.
        wait_until(bus.queue_exists, timeout=60)

        def publish_all() -> None:
            for message in traffic.messages:
                bus.publisher.publish_raw(
                    message.body, routing_key=message.routing_key, content_type=message.content_type
                )

        publisher = threading.Thread(target=publish_all)
        publisher.start()
        wait_until(lambda: ReceivedEvent.objects.count() >= 800, timeout=60)
        _kill(worker)
        applied_before_crash = ReceivedEvent.objects.count()
        publisher.join(60)

        worker = start_worker(bus, log_path=log_path)
        wait_until(lambda: ReceivedEvent.objects.count() == traffic.valid_events, timeout=90)
        wait_until(lambda: DeadLetter.objects.count() == traffic.malformed, timeout=30)
    finally:
        if worker.poll() is None:
            _kill(worker)

    assert 0 < applied_before_crash < traffic.valid_events, "the kill did not happen mid-stream"
    expected = traffic.expected_state()
    sequences = traffic.expected_sequences()
    for kind, model in MODELS.items():
        rows = {str(row.pk): row for row in model.objects.all()}
        assert set(rows) == set(expected[kind]), f"{kind}: rows missing or extra"
        for subject, data in expected[kind].items():
            assert _as_contract(rows[subject], kind) == {
                k: data[k] for k in _as_contract(rows[subject], kind)
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
    assert bus.ready_messages() == 0
