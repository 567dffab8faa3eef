"""The intake tells registered observers what each batch changed, inside the batch.

``apps.events`` does not import the workflow apps; the approvals learn of the
events that settle their requests through ``apps.events.observers``.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import pytest
from django.db import connection

from apps.events import observers
from apps.events.services import IncomingMessage, apply_event_batch
from apps.payments.models import Payment
from tests.events.factories import payment_event

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def message(event: dict) -> IncomingMessage:
    return IncomingMessage(
        body=json.dumps(event).encode(), routing_key=event["type"], content_type="application/json"
    )


@pytest.fixture
def seen():
    calls: list[dict] = []

    def observer(applied):
        assert connection.in_atomic_block  # inside the batch's transaction
        calls.append({kind: dict(by_subject) for kind, by_subject in applied.items()})

    observers.register("test.observer", observer)
    yield calls
    observers.unregister("test.observer")


def test_an_observer_gets_each_changed_subjects_winning_event_once(seen):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    apply_event_batch(
        [
            message(payment_event(first, 1, "payment.created")),
            message(payment_event(first, 3, status="refunded")),
            message(payment_event(first, 2, status="settled")),  # reordered: stale in the batch
            message(payment_event(second, 1, "payment.created")),
        ]
    )
    [applied] = seen
    assert {subject: event.sequence for subject, event in applied["payment"].items()} == {
        uuid.UUID(first): 3,
        uuid.UUID(second): 1,
    }
    # A batch that changes nothing (a redelivery) tells nobody.
    apply_event_batch([message(payment_event(first, 3, status="refunded"))])
    assert len(seen) == 1


def test_an_observer_that_fails_rolls_the_batch_back():
    def failing(applied):
        raise RuntimeError("observer failed")

    observers.register("test.failing", failing)
    payment_id = str(uuid.uuid4())
    try:
        with pytest.raises(RuntimeError, match="observer failed"):
            apply_event_batch([message(payment_event(payment_id, 1, "payment.created"))])
    finally:
        observers.unregister("test.failing")
    assert not Payment.objects.filter(payment_id=payment_id).exists()


def test_the_approvals_observe_the_intake_and_lower_apps_do_not_import_them():
    assert "approvals.settle" in observers._observers
    lower = ["apps/events", "apps/accounts", "apps/payments", "apps/home", "apps/audit"]
    importing = []
    for folder in lower:
        for source in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                if any(name.startswith("apps.approvals") for name in names):
                    importing.append(f"{source.relative_to(ROOT)}:{node.lineno}")
    assert importing == []
