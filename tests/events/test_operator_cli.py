"""``manage.py events``: stats that add up, dead letters listed, replay through the normal path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Account
from apps.audit.models import AuditEntry
from apps.events.models import DeadLetter, DeadLetterStatus, ReceivedEvent
from apps.events.services import IncomingMessage, apply_event_batch
from apps.payments.models import Payment
from tests.events.conftest import ROOT
from tests.events.conftest import this_runs_database_url as subprocess_database_url
from tests.events.factories import account_event, payment_event

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


# --- ingest-file: a JSON Lines file of contract messages through the intake's batch path ----


def write_message_file(path, *items) -> None:
    """Events as the stand-in writes them (``EventFile``); ``bytes`` items are raw lines."""
    from devtools.standin.publisher import EventFile

    with EventFile(path) as out:
        for item in items:
            if isinstance(item, bytes):
                out._file.write(item.decode() + "\n")
            else:
                out.publish(item)


def test_ingest_file_applies_every_event_and_says_what_happened(tmp_path):
    account_id, payment_id = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "events.jsonl"
    write_message_file(
        path,
        account_event(account_id, 1, "account.created"),
        payment_event(payment_id, 1, "payment.created", account_id=account_id, status="pending"),
        payment_event(payment_id, 2, account_id=account_id, status="settled"),
    )

    output = run("ingest-file", str(path))

    assert "3 messages" in output
    assert "3 applied, 0 stale, 0 duplicates, 0 ignored, 0 dead letters" in output
    assert Account.objects.get(pk=account_id).sequence == 1
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.sequence) == ("settled", 2)
    entry = AuditEntry.objects.get(action="events.file.ingest")
    assert entry.params["applied"] == 3


def test_ingest_file_keeps_duplicates_and_reordering_as_the_intake_does(tmp_path):
    payment_id = str(uuid.uuid4())
    third = payment_event(payment_id, 3, status="refunded", refunded_cents=5_000)
    path = tmp_path / "events.jsonl"
    write_message_file(
        path,
        payment_event(payment_id, 1, "payment.created", status="pending"),
        third,
        payment_event(payment_id, 2, status="settled"),  # late: must not go backwards
        third,  # the producer retried
    )

    output = run("ingest-file", str(path), "--batch-size", "2")

    assert "2 applied, 1 stale, 1 duplicates" in output
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.sequence) == ("refunded", 3)
    stats = json.loads(run("stats", "--json"))
    assert stats["adds_up"] is True
    assert stats["totals"]["received"] == 4


def test_ingest_file_dead_letters_a_bad_line_with_its_number_and_applies_the_rest(tmp_path):
    good, wrong_currency = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "events.jsonl"
    write_message_file(
        path,
        payment_event(good, 1, "payment.created"),
        b"this line is not JSON",
        payment_event(wrong_currency, 1, "payment.created", currency="XYZ"),
        b'{"routing_key": "payment.created"}',
    )

    output = run("ingest-file", str(path))

    assert "1 applied, 0 stale, 0 duplicates, 0 ignored, 3 dead letters" in output
    assert Payment.objects.filter(pk=good).exists()
    assert not Payment.objects.filter(pk=wrong_currency).exists()
    reasons = sorted(DeadLetter.objects.values_list("reason", flat=True))
    assert any(r.startswith(f"{path}, line 2: not JSON") for r in reasons)
    assert any(r.startswith(f"{path}, line 4: not a message object") for r in reasons)
    # A well-formed line with a malformed event: the intake's own reason, as over RabbitMQ.
    assert any("XYZ" in r and "line" not in r for r in reasons)
    kept = DeadLetter.objects.get(reason__contains="line 2")
    assert bytes(kept.body) == b"this line is not JSON"


def test_ingest_file_refuses_a_missing_file_clearly(tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(CommandError, match=f"Cannot read {missing}: No such file"):
        run("ingest-file", str(missing))

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": subprocess_database_url(),
    }
    process = subprocess.run(
        [sys.executable, "manage.py", "events", "ingest-file", str(missing)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 1
    assert f"Cannot read {missing}: No such file or directory" in process.stderr


def test_ingest_file_twice_changes_nothing_the_second_time(tmp_path):
    payment_id = str(uuid.uuid4())
    path = tmp_path / "events.jsonl"
    write_message_file(
        path,
        payment_event(payment_id, 1, "payment.created", status="pending"),
        payment_event(payment_id, 2, status="settled"),
        b"not JSON",
    )
    run("ingest-file", str(path))
    before = Payment.objects.get(pk=payment_id)

    output = run("ingest-file", str(path))

    assert "0 applied, 0 stale, 2 duplicates, 0 ignored, 1 dead letters" in output
    after = Payment.objects.get(pk=payment_id)
    assert (after.sequence, after.synced_at) == (before.sequence, before.synced_at)
    assert ReceivedEvent.objects.filter(subject=payment_id).count() == 2
    letter = DeadLetter.objects.get()
    assert letter.attempts == 2  # the same bad line again, not a second letter
