"""The action log: append-only in PostgreSQL, tamper-evident, one chain under concurrency."""

from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.audit.models import AuditEntry
from apps.audit.services import Actor, Outcome, record, verify_chain

ACTOR = Actor.system("tests")


def append(n: int, **fields) -> list[AuditEntry]:
    return [
        record(action="test.write", actor=ACTOR, target_type="thing", target_id=str(i), **fields)
        for i in range(n)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET reason = 'rewritten'",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
    ],
)
def test_raw_sql_cannot_change_or_remove_entries(statement):
    append(2)
    with (
        pytest.raises(Exception, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEntry.objects.count() == 2


@pytest.mark.django_db
def test_replication_role_does_not_silence_the_triggers():
    append(1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM audit_entry")
    assert AuditEntry.objects.count() == 1


def _tamper(sql: str, params=()) -> None:
    """What someone with superuser rights could do behind the portal's back."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update_or_delete")
        cursor.execute(sql, params)
        cursor.execute(
            "ALTER TABLE audit_entry ENABLE ALWAYS TRIGGER audit_entry_no_update_or_delete"
        )


@pytest.mark.django_db
def test_an_edited_entry_is_found_at_exactly_that_entry():
    entries = append(6)
    assert verify_chain(full=True).intact
    _tamper(
        "UPDATE audit_entry SET reason = 'nothing to see' WHERE sequence = %s",
        [entries[3].sequence],
    )
    report = verify_chain(full=True)
    assert not report.intact
    assert report.broken_at == entries[3].sequence
    assert "altered" in report.problem
    assert report.verified_through == entries[2].sequence


@pytest.mark.django_db
def test_a_deleted_entry_is_found():
    entries = append(5)
    _tamper("DELETE FROM audit_entry WHERE sequence = %s", [entries[2].sequence])
    report = verify_chain(full=True)
    assert (report.intact, report.broken_at) == (False, entries[2].sequence)
    assert "missing" in report.problem


@pytest.mark.django_db
def test_verification_is_incremental_and_full_still_catches_old_tampering():
    entries = append(4)
    first = verify_chain()
    assert (first.intact, first.started_from) == (True, 1)
    append(3)
    second = verify_chain()
    assert second.intact
    assert second.started_from == first.verified_through + 1
    assert second.checked == 4  # three new entries and the first run's own audit.verify entry
    _tamper(
        "UPDATE audit_entry SET reason = 'quietly edited' WHERE sequence = %s",
        [entries[0].sequence],
    )
    assert AuditEntry.objects.get(sequence=entries[0].sequence).reason == "quietly edited"
    assert verify_chain().intact, "incremental checks start after the checkpoint"
    assert verify_chain(full=True).broken_at == entries[0].sequence


@pytest.mark.django_db
def test_the_command_reports_intact_or_the_break_with_an_exit_code():
    append(3)
    out = StringIO()
    call_command("audit", "verify", "--json", stdout=out)
    assert json.loads(out.getvalue())["intact"] is True
    _tamper("UPDATE audit_entry SET actor_name = 'someone else' WHERE sequence = 2")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("audit", "verify", "--full", stdout=out)
    assert "BROKEN at entry #2" in out.getvalue()


@pytest.mark.django_db
def test_an_action_whose_transaction_rolls_back_leaves_no_entry():
    class Refused(Exception):
        pass

    def refused_action() -> None:
        with transaction.atomic():
            record(action="refund.approve", actor=ACTOR)
            raise Refused

    with pytest.raises(Refused):
        refused_action()
    assert not AuditEntry.objects.exists()
    assert record(action="refund.approve", actor=ACTOR).sequence == 1  # no gap either


@pytest.mark.django_db(transaction=True)
def test_eight_parallel_writers_produce_one_unbroken_chain():
    per_writer = 625  # 8 x 625 = 5,000 entries

    def write() -> None:
        try:
            for i in range(per_writer):
                record(
                    action="test.parallel", actor=ACTOR, target_id=str(i), outcome=Outcome.SUCCESS
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sequences = list(AuditEntry.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 5_001))
    report = verify_chain(full=True)
    assert report.intact
    assert report.verified_through == 5_000


@pytest.mark.django_db
def test_the_client_ip_comes_from_a_trusted_header_only(rf, settings):
    request = rf.get(
        "/",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7",
        HTTP_USER_AGENT="Firefox",
    )
    request.request_id = "req-42"
    settings.PORTAL_CLIENT_IP_HEADER = ""
    assert record(action="x.y", actor=ACTOR, request=request).client_ip == "10.0.0.5"
    settings.PORTAL_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    entry = record(action="x.y", actor=ACTOR, request=request)
    assert entry.client_ip == "203.0.113.7"  # the spoofable left-most value is ignored
    assert (entry.request_id, entry.user_agent) == ("req-42", "Firefox")


@pytest.mark.django_db
def test_an_entry_holds_who_what_when_where_and_the_services_answer(agent):
    entry = record(
        action="refund.submit",
        actor=Actor.for_user(agent),
        target_type="refund_request",
        target_id="abc",
        outcome=Outcome.FAILED,
        params={"amount_cents": 100},
        reason="declined",
        api_status=409,
        api_error_code="not_refundable",
        api_error_message="payment is failed",
    )
    entry.refresh_from_db()
    assert (entry.actor_kind, entry.actor_name, entry.actor_user_id, entry.actor_roles) == (
        "user",
        agent.email,
        agent.pk,
        ["agent"],
    )
    assert (entry.api_status, entry.api_error_code) == (409, "not_refundable")
    assert len(entry.hash) == 64
