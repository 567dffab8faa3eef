"""``manage.py events``: stats that add up, dead letters listed, replay through the normal path."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.events.models import DeadLetter, DeadLetterStatus
from apps.events.services import IncomingMessage, apply_event_batch
from apps.payments.models import Payment
from tests.events.factories import payment_event

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


def publish_directly(*events_or_bodies) -> None:
    """Feed the intake's batch path as the consumer would (the broker is tested elsewhere)."""
    messages = [
        IncomingMessage(
            body=item if isinstance(item, bytes) else json.dumps(item).encode(),
            routing_key="payment.updated",
        )
        for item in events_or_bodies
    ]
    apply_event_batch(messages, consumer="cli-test")


def test_stats_json_counts_add_up_per_source():
    payment_id = str(uuid.uuid4())
    first = payment_event(payment_id, 2)
    publish_directly(first, first, payment_event(payment_id, 1), b"junk")
    stats = json.loads(run("stats", "--json"))
    assert stats["adds_up"] is True
    assert stats["totals"] == {
        "received": 4,
        "applied": 1,
        "duplicates": 1,
        "stale": 1,
        "ignored": 0,
        "dead_letters": 1,
    }
    sources = {s["source"]: s for s in stats["sources"]}
    assert sources["/services/payments"]["received"] == 3
    assert sources["(unknown)"]["dead_letters"] == 1
    assert sources["/services/payments"]["seconds_since_newest_applied"] < 60


def test_stats_as_a_table():
    publish_directly(payment_event(str(uuid.uuid4()), 1))
    table = run("stats")
    assert "/services/payments" in table
    assert "total" in table


def test_dead_letters_are_listed_with_their_reason():
    publish_directly(b'{"specversion": "0.3"}')
    listing = run("dead-letters")
    assert "'specversion' must be \"1.0\"" in listing
    as_json = json.loads(run("dead-letters", "--json"))
    assert as_json[0]["body"] == '{"specversion": "0.3"}'


def test_replay_applies_what_is_now_valid_and_keeps_what_is_not(settings):
    payment_id = str(uuid.uuid4())
    event = payment_event(payment_id, 1)
    event["data"]["currency"] = "XYZ"  # not (yet) an ISO 4217 code: dead-lettered
    publish_directly(event, b"still garbage")
    assert DeadLetter.objects.count() == 2
    fixable = DeadLetter.objects.get(reason__contains="XYZ")
    # The operator finds the producer sent a wrong code for EUR and repairs the stored body.
    DeadLetter.objects.filter(pk=fixable.pk).update(
        body=bytes(fixable.body).replace(b"XYZ", b"EUR")
    )

    output = run("replay", "--all")
    assert f"Resolved 1: [{fixable.pk}]" in output
    assert Payment.objects.get(pk=payment_id).currency == "EUR"
    assert DeadLetter.objects.get(pk=fixable.pk).status == DeadLetterStatus.RESOLVED
    still = DeadLetter.objects.exclude(pk=fixable.pk).get()
    assert (still.status, still.attempts) == (DeadLetterStatus.PENDING, 2)


def test_replay_needs_ids_or_all():
    with pytest.raises(CommandError, match="Name dead letter ids"):
        run("replay")
