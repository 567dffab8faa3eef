"""Every row of the events contract's behaviour table, through real RabbitMQ into PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest
from django.db import connection

from apps.accounts.models import Account
from apps.events.models import (
    DeadLetter,
    EventOutcome,
    IntakeCounter,
    IntakeHeartbeat,
    ReceivedEvent,
)
from apps.payments.models import Payment, Refund
from devtools.standin.publisher import EventPublisher
from tests.events.conftest import RunningIntake, wait_until
from tests.events.factories import account_event, payment_event, refund_event

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def counters() -> dict[str, int]:
    totals = {
        "received": 0,
        "applied": 0,
        "duplicates": 0,
        "stale": 0,
        "ignored": 0,
        "dead_letters": 0,
    }
    for row in IntakeCounter.objects.all():
        for name in totals:
            totals[name] += getattr(row, name)
    return totals


def received(total: int):
    return lambda: counters()["received"] >= total


def test_a_valid_new_event_is_applied_and_recorded_once(bus, intake):
    account_id = str(uuid.uuid4())
    event = account_event(
        account_id, 1, "account.created", owner_name="Ada Lovelace", balance_cents=-250
    )
    bus.publisher.publish(event)
    wait_until(lambda: Account.objects.filter(pk=account_id).exists(), timeout=5)

    account = Account.objects.get(pk=account_id)
    assert account.owner_name == "Ada Lovelace"
    assert account.balance_cents == -250
    assert account.sequence == 1
    assert account.synced_at is not None
    assert (
        ReceivedEvent.objects.filter(event_id=event["id"], outcome=EventOutcome.APPLIED).count()
        == 1
    )


def test_a_lone_event_lands_within_a_second(bus, intake):
    payment_id = str(uuid.uuid4())
    started = time.monotonic()
    bus.publisher.publish(payment_event(payment_id, 1, "payment.created"))
    wait_until(lambda: Payment.objects.filter(pk=payment_id).exists(), timeout=5, interval=0.01)
    assert time.monotonic() - started < 1.0


def test_a_duplicate_changes_nothing_and_is_counted(bus, intake):
    account_id = str(uuid.uuid4())
    event = account_event(account_id, 1, "account.created", balance_cents=100)
    bus.publisher.publish(event)
    wait_until(received(1))
    Account.objects.filter(pk=account_id).update(owner_name="changed by the test")
    bus.publisher.publish(event)
    bus.publisher.publish(event)
    wait_until(received(3))
    assert counters() == {
        "received": 3,
        "applied": 1,
        "duplicates": 2,
        "stale": 0,
        "ignored": 0,
        "dead_letters": 0,
    }
    assert Account.objects.get(pk=account_id).owner_name == "changed by the test"
    assert ReceivedEvent.objects.filter(event_id=event["id"]).count() == 1


def test_state_never_goes_backwards(bus, intake):
    account_id = str(uuid.uuid4())
    bus.publisher.publish(account_event(account_id, 3, status="frozen"))
    wait_until(received(1))
    bus.publisher.publish(account_event(account_id, 2, status="active"))
    wait_until(received(2))
    account = Account.objects.get(pk=account_id)
    assert (account.status, account.sequence) == ("frozen", 3)
    assert counters()["stale"] == 1
    outcomes = dict(
        ReceivedEvent.objects.filter(subject=account_id).values_list("sequence", "outcome")
    )
    assert outcomes == {3: "applied", 2: "stale"}


def test_an_update_before_its_create_creates_the_row(bus, intake):
    payment_id = str(uuid.uuid4())
    bus.publisher.publish(payment_event(payment_id, 2, "payment.updated", status="settled"))
    wait_until(lambda: Payment.objects.filter(pk=payment_id).exists())
    bus.publisher.publish(payment_event(payment_id, 1, "payment.created", status="pending"))
    wait_until(received(2))
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.sequence) == ("settled", 2)


def test_a_refund_before_its_payment_and_a_payment_before_its_account(bus, intake):
    account_id, payment_id, refund_id = (str(uuid.uuid4()) for _ in range(3))
    bus.publisher.publish(refund_event(refund_id, payment_id, 1, "refund.created"))
    bus.publisher.publish(payment_event(payment_id, 1, "payment.created", account_id=account_id))
    wait_until(received(2))
    refund = Refund.objects.get(pk=refund_id)
    assert str(refund.payment_id) == payment_id
    payment = Payment.objects.get(pk=payment_id)
    assert str(payment.account_id) == account_id
    assert not Account.objects.filter(pk=account_id).exists()

    bus.publisher.publish(
        account_event(account_id, 1, "account.created", owner_name="Late Arrival")
    )
    wait_until(lambda: Account.objects.filter(pk=account_id).exists())
    assert (
        Payment.objects.select_related("account").get(pk=payment_id).account.owner_name
        == "Late Arrival"
    )
    assert list(Payment.objects.get(pk=payment_id).refunds.values_list("pk", flat=True)) == [
        uuid.UUID(refund_id)
    ]


def test_an_unknown_type_is_acknowledged_and_recorded_as_ignored(bus, transactional_db):
    running = RunningIntake(bus.config()).start()
    event = account_event(str(uuid.uuid4()), 1)
    event["type"] = "account.merged"
    bus.publisher.publish_raw(json.dumps(event).encode(), routing_key="account.merged")
    wait_until(received(1))
    running.stop()
    assert counters()["ignored"] == 1
    assert ReceivedEvent.objects.get(event_id=event["id"]).outcome == EventOutcome.IGNORED
    assert bus.ready_messages() == 0
    assert not DeadLetter.objects.exists()


MALFORMED = {
    "not JSON": (b"{this is not json", "body is not JSON"),
    "not an object": (b'["an", "array"]', "not an object"),
    "missing id": (None, "missing field 'id'"),
    "bad UUID": (None, "'subject' is not a UUID"),
    "unknown currency": (None, "not an ISO 4217 currency: 'ABC'"),
    "bad timestamp": (None, "'time' is not an RFC 3339 timestamp"),
    "ill-typed amount": (None, "'amount_cents' must be an integer"),
    "refunded above amount": (None, "exceeds 'amount_cents'"),
}


def _malformed_body(case: str) -> bytes:
    raw, _ = MALFORMED[case]
    if raw is not None:
        return raw
    event = payment_event(str(uuid.uuid4()), 1, "payment.created")
    if case == "missing id":
        del event["id"]
    elif case == "bad UUID":
        event["subject"] = "12345"
    elif case == "unknown currency":
        event["data"]["currency"] = "ABC"
    elif case == "bad timestamp":
        event["time"] = "24/11/2026 10:15"
    elif case == "ill-typed amount":
        event["data"]["amount_cents"] = "5000"
    elif case == "refunded above amount":
        event["data"]["refunded_cents"] = 9_999
    return json.dumps(event).encode()


def test_malformed_messages_become_dead_letters_and_leave_the_queue(bus, transactional_db):
    running = RunningIntake(bus.config()).start()
    bodies = {case: _malformed_body(case) for case in MALFORMED}
    for case, body in bodies.items():
        bus.publisher.publish_raw(body, routing_key="payment.created", headers={"x-case": case})
    wait_until(lambda: DeadLetter.objects.count() == len(MALFORMED))
    running.stop()

    assert bus.ready_messages() == 0, "dead letters must be taken off the live queue"
    for case, body in bodies.items():
        letter = DeadLetter.objects.get(headers__contains={"x-case": case})
        assert MALFORMED[case][1] in letter.reason, (case, letter.reason)
        assert bytes(letter.body) == body
        assert letter.routing_key == "payment.created"
        assert letter.attempts == 1
    assert counters()["dead_letters"] == len(MALFORMED)


def test_the_same_malformed_message_again_counts_attempts_on_one_dead_letter(bus, intake):
    bus.publisher.publish_raw(b"nope", routing_key="account.updated")
    wait_until(lambda: DeadLetter.objects.count() == 1)
    bus.publisher.publish_raw(b"nope", routing_key="account.updated")
    wait_until(lambda: DeadLetter.objects.filter(attempts=2).exists())
    letter = DeadLetter.objects.get()
    assert letter.last_seen > letter.first_seen


def test_counts_add_up_and_the_heartbeat_shows_the_consumer(bus, intake):
    account_id = str(uuid.uuid4())
    first = account_event(account_id, 2, "account.created")
    bus.publisher.publish(first)
    bus.publisher.publish(first)
    bus.publisher.publish(account_event(account_id, 1))
    bus.publisher.publish_raw(b"garbage", routing_key="account.updated")
    unknown = account_event(account_id, 9)
    unknown["type"] = "account.audited"
    bus.publisher.publish_raw(json.dumps(unknown).encode(), routing_key="account.audited")
    wait_until(received(5))
    totals = counters()
    assert totals == {
        "received": 5,
        "applied": 1,
        "duplicates": 1,
        "stale": 1,
        "ignored": 1,
        "dead_letters": 1,
    }
    heartbeat = IntakeHeartbeat.objects.get(consumer=intake.intake.name)
    assert heartbeat.last_batch_at is not None


def test_a_database_outage_loses_nothing_and_applies_nothing_twice(bus, transactional_db):
    running = RunningIntake(bus.config(flush_seconds=0.02)).start()
    database = connection.settings_dict["NAME"]
    payment_ids = [str(uuid.uuid4()) for _ in range(30)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_pid,) = cursor.fetchone()
    admin = psycopg.connect(
        **{**connection.get_connection_params(), "dbname": "postgres"}, autocommit=True
    )
    try:
        # The database refuses the intake: its connection is cut and no new one is allowed.
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [database, own_pid],
        )
        for index, payment_id in enumerate(payment_ids):
            bus.publisher.publish(
                payment_event(payment_id, 1, "payment.created", amount_cents=100 + index)
            )
            bus.publisher.publish(
                payment_event(payment_id, 2, status="settled", amount_cents=100 + index)
            )
        time.sleep(1.5)
        assert Payment.objects.count() == 0, (
            "nothing can be applied while the database refuses the intake"
        )
    finally:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    wait_until(lambda: Payment.objects.filter(sequence=2).count() == 30, timeout=30)
    # The intake may have seen some messages twice (redelivery after the outage): none counts twice.
    running.stop()
    assert ReceivedEvent.objects.count() == 60
    totals = counters()
    assert totals["applied"] == 60
    assert totals["received"] == totals["applied"] + totals["duplicates"]
    assert bus.ready_messages() == 0
    assert {p.amount_cents for p in Payment.objects.all()} == {100 + i for i in range(30)}


def test_a_message_the_handler_keeps_failing_on_is_retried_then_dead_lettered(bus, intake):
    """A valid event the database cannot store (a NUL character) must not block the others."""
    poison = account_event(str(uuid.uuid4()), 1, "account.created", owner_name="Nul\u0000Byte")
    healthy = account_event(str(uuid.uuid4()), 1, "account.created", owner_name="Healthy")
    bus.publisher.publish(poison)
    bus.publisher.publish(healthy)
    wait_until(lambda: DeadLetter.objects.exists(), timeout=20)
    letter = DeadLetter.objects.get()
    assert "failed to apply it 3 times" in letter.reason
    assert json.loads(bytes(letter.body))["id"] == poison["id"]
    assert Account.objects.filter(pk=healthy["subject"], owner_name="Healthy").exists()
    assert not Account.objects.filter(pk=poison["subject"]).exists()


def test_a_broker_outage_mid_stream_loses_nothing_and_applies_nothing_twice(bus, transactional_db):
    """RabbitMQ goes away under the intake (connections dropped, new ones refused) and comes back."""
    from urllib.parse import urlsplit, urlunsplit

    from tests.events.tcp_proxy import CuttableProxy

    broker = urlsplit(bus.broker_url)
    proxy = CuttableProxy(broker.hostname or "127.0.0.1", broker.port or 5672)
    credentials = f"{broker.username}:{broker.password}@" if broker.username else ""
    via_proxy = urlunsplit(broker._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}"))
    running = RunningIntake(bus.config(broker_url=via_proxy, flush_seconds=0.02)).start()
    payment_ids = [str(uuid.uuid4()) for _ in range(200)]

    def publish(ids) -> None:
        for index, payment_id in enumerate(ids):
            bus.publisher.publish(
                payment_event(payment_id, 1, "payment.created", amount_cents=index + 1)
            )
            bus.publisher.publish(
                payment_event(payment_id, 2, status="settled", amount_cents=index + 1)
            )

    try:
        publish(payment_ids[:100])
        wait_until(lambda: ReceivedEvent.objects.count() >= 50, timeout=30)
        proxy.cut()  # mid-stream: some batches applied, some delivered and not yet acknowledged
        publish(payment_ids[100:])  # the Go services keep publishing to the broker meanwhile
        time.sleep(2)
        proxy.restore()
        wait_until(lambda: Payment.objects.filter(sequence=2).count() == 200, timeout=60)
        assert proxy.connections >= 2, "the intake did not reconnect"
    finally:
        running.stop()
        proxy.close()
    assert ReceivedEvent.objects.count() == 400
    totals = counters()
    assert totals["applied"] == 400
    assert totals["received"] == totals["applied"] + totals["duplicates"]
    assert bus.ready_messages() == 0
    assert sorted(Payment.objects.values_list("amount_cents", flat=True)) == sorted(
        [i + 1 for i in range(100)] * 2
    )


def test_an_outage_longer_than_the_hold_gives_the_messages_back_and_resumes_alone(
    bus, transactional_db
):
    """Past ``max_hold_seconds`` the intake pauses: nothing acked, messages back, unhealthy; then resumes."""
    running = RunningIntake(bus.config(flush_seconds=0.02, max_hold_seconds=1.0)).start()
    database = connection.settings_dict["NAME"]
    payment_ids = [str(uuid.uuid4()) for _ in range(20)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_pid,) = cursor.fetchone()
    admin = psycopg.connect(
        **{**connection.get_connection_params(), "dbname": "postgres"}, autocommit=True
    )
    try:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [database, own_pid],
        )
        for payment_id in payment_ids:
            bus.publisher.publish(payment_event(payment_id, 1, "payment.created"))
        # Held, then paused: every message is back on the queue, none acknowledged.
        wait_until(lambda: not running.intake.health()[0], timeout=20)
        assert "paused" in running.intake.health()[1]
        wait_until(lambda: bus.ready_messages() == len(payment_ids), timeout=20)
        time.sleep(1.5)  # paused means paused: no consumer takes them meanwhile
        assert bus.ready_messages() == len(payment_ids)
    finally:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    # No restart: the same intake probes, finds the database and consumes again.
    wait_until(lambda: Payment.objects.count() == len(payment_ids), timeout=40)
    assert running.intake.health() == (True, "consuming")
    running.stop()
    assert ReceivedEvent.objects.count() == len(payment_ids)
    assert counters()["applied"] == len(payment_ids)
    assert bus.ready_messages() == 0


def fill_lock_table(holder: psycopg.Connection, *, leave_free: int) -> int:
    """Take advisory locks in ``holder``'s transaction until PostgreSQL's lock table is full
    but for about ``leave_free`` slots (the whole server's table: other sessions feel it)."""
    taken, chunk = 0, 1_000
    while chunk >= 1:
        holder.execute("SAVEPOINT fill")
        try:
            holder.execute(
                "SELECT count(pg_advisory_xact_lock(9, g)) FROM generate_series(%s::int, %s::int) g",
                [taken, taken + chunk - 1],
            )
        except psycopg.errors.OutOfMemory:
            holder.execute("ROLLBACK TO SAVEPOINT fill")
            chunk //= 2
            continue
        holder.execute("RELEASE SAVEPOINT fill")
        taken += chunk
    holder.rollback()
    keep = taken - leave_free
    for start in range(0, keep, 1_000):
        holder.execute(
            "SELECT count(pg_advisory_xact_lock(9, g)) FROM generate_series(%s::int, %s::int) g",
            [start, min(start + 1_000, keep) - 1],
        )
    return keep


def test_a_batch_needing_more_locks_than_the_server_has_free_is_applied_in_parts(
    bus, transactional_db, caplog
):
    """Neither an outage nor a bad message: no one-by-one fallback, the batch goes in smaller parts."""
    running = RunningIntake(bus.config(batch_size=1_000, flush_seconds=2.0)).start()
    wait_until(lambda: IntakeHeartbeat.objects.exists())  # its database connection is open
    holder = psycopg.connect(**connection.get_connection_params())
    payment_ids = [str(uuid.uuid4()) for _ in range(1_000)]
    try:
        fill_lock_table(holder, leave_free=400)  # room for a few hundred aggregates, not 1,000
        publisher = EventPublisher(bus.broker_url, bus.exchange, window=1_000)
        for payment_id in payment_ids:
            publisher.publish(payment_event(payment_id, 1, "payment.created"))
        publisher.close()
        wait_until(lambda: ReceivedEvent.objects.count() == 1_000, timeout=30)
    finally:
        holder.close()
        running.stop()
    assert set(map(str, Payment.objects.values_list("pk", flat=True))) == set(payment_ids)
    assert counters()["received"] == counters()["applied"] == 1_000
    assert bus.ready_messages() == 0
    assert any("lock table is full" in r.getMessage() for r in caplog.records)
