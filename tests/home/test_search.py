"""The header's search box: any id pasted in opens its record, for the people who may open it."""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory
from django.utils import timezone

from apps.audit.services import Actor, record
from apps.payments.models import Refund, RefundStatus
from tests.approvals.conftest import make_account, make_payment, refund_request_by
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def with_request_id(request_id: str):
    """A request as the request-id middleware leaves it (the action log reads ``request_id``)."""
    request = RequestFactory().get("/")
    request.request_id = request_id
    return request


def search(client, text: str):
    return client.get("/search/", {"q": text})


def make_refund(payment, **fields) -> Refund:
    now = timezone.now()
    values = {
        "refund_id": uuid.uuid4(),
        "payment_id": payment.payment_id,
        "amount_cents": 1_000,
        "currency": payment.currency,
        "status": RefundStatus.SUCCEEDED,
        "created_at": now,
        "updated_at": now,
        "sequence": 1,
        "synced_at": now,
    }
    values.update(fields)
    return Refund.objects.create(**values)


@pytest.mark.parametrize("length", [36, 8, 13])
def test_a_payment_id_whole_or_its_start_opens_the_payment(agent_client, length):
    payment = make_payment()
    response = search(agent_client, str(payment.payment_id)[:length].upper())
    assert response.status_code == 302
    assert response["Location"] == f"/payments/{payment.payment_id}/"


@pytest.mark.parametrize("length", [36, 8])
def test_an_account_id_opens_the_account(agent_client, length):
    account = make_account()
    response = search(agent_client, f"  {str(account.account_id)[:length]} ")
    assert response["Location"] == f"/accounts/{account.account_id}/"


@pytest.mark.parametrize("length", [36, 10])
def test_a_refund_id_opens_the_refund(auditor_client, length):
    refund = make_refund(make_payment())
    response = search(auditor_client, str(refund.refund_id)[:length])
    assert response["Location"] == f"/payments/refunds/{refund.refund_id}/"


@pytest.mark.parametrize("length", [36, 8])
def test_a_request_reference_opens_the_request(agent_client, agent, length):
    refund_request = refund_request_by(agent, make_payment())
    response = search(agent_client, str(refund_request.pk)[:length])
    assert response["Location"] == f"/requests/{refund_request.pk}/"


def test_a_merchant_reference_opens_the_payment(agent_client):
    payment = make_payment(merchant_reference="ORD-2026-4411")
    make_payment(merchant_reference="ORD-2026-4412")
    response = search(agent_client, "ORD-2026-4411")
    assert response["Location"] == f"/payments/{payment.payment_id}/"


def test_a_customer_email_opens_the_account_in_any_letter_case(agent_client):
    account = make_account(owner_email="grace@example.com")
    response = search(agent_client, "Grace@Example.com")
    assert response["Location"] == f"/accounts/{account.account_id}/"


def test_an_action_log_request_id_lists_its_entries(auditor_client):
    record(
        action="payments.export", actor=Actor.system("test"), request=with_request_id("req-7f3a9c")
    )
    response = search(auditor_client, "req-7f3a9c")
    assert response.status_code == 302
    assert response["Location"] == "/action-log/?q=req-7f3a9c"


def test_several_matches_make_a_short_mixed_list(agent_client):
    shared = "abcdef01"
    payment = make_payment(payment_id=uuid.UUID(f"{shared}-0000-4000-8000-000000000001"))
    account = make_account(account_id=uuid.UUID(f"{shared}-0000-4000-8000-000000000002"))
    response = search(agent_client, shared)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/payments/{payment.payment_id}/"' in page
    assert f'href="/accounts/{account.account_id}/"' in page
    assert "2 records match" in page


def test_the_same_merchant_reference_twice_is_listed(agent_client):
    first = make_payment(merchant_reference="DUP-1")
    second = make_payment(merchant_reference="DUP-1")
    page = search(agent_client, "DUP-1").content.decode()
    assert str(first.payment_id)[:8] in page
    assert str(second.payment_id)[:8] in page


@pytest.mark.parametrize(
    "text",
    [
        str(uuid.uuid4()),
        "deadbeef",
        "nobody@example.com",
        "ORD-unknown",
        "' OR 1=1 --",
        "%_%",
        "\x00",
        "é" * 400,
        "1234567",  # too short to be a prefix
    ],
)
def test_unknown_or_odd_text_finds_nothing_and_never_fails(agent_client, text):
    make_payment()
    response = search(agent_client, text)
    assert response.status_code in (200, 400)
    assert "Location" not in response


def test_an_empty_search_asks_for_an_id(agent_client):
    response = search(agent_client, "   ")
    assert response.status_code == 400
    assert "Type or paste an id" in response.content.decode()


def test_an_agent_does_not_find_another_agents_request(agent_client):
    other = UserFactory(username="bob.agent", roles=["agent"])
    theirs = refund_request_by(other, make_payment())
    response = search(agent_client, str(theirs.pk))
    assert response.status_code == 200
    assert "Nothing you may open matches" in response.content.decode()


def test_an_agent_does_not_find_action_log_entries_that_are_not_theirs(agent_client):
    record(
        action="payments.export",
        actor=Actor.system("someone else"),
        request=with_request_id("req-hidden"),
    )
    assert "Nothing you may open matches" in search(agent_client, "req-hidden").content.decode()


def test_an_auditor_finds_a_request_and_gets_no_action_buttons(auditor_client, agent):
    refund_request = refund_request_by(agent, make_payment())
    response = search(auditor_client, str(refund_request.pk))
    page = auditor_client.get(response["Location"]).content.decode()
    assert "Waiting for approval" in page
    assert "/approve/" not in page
    assert "/cancel/" not in page


def test_people_without_a_role_cannot_search(no_role_client):
    response = search(no_role_client, "anything")
    assert response.status_code in (302, 403)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("INV-202611-0000123", "payment_reference"),
        ("someone@example.com", "account_owner_email"),
        ("req-0123456789", "audit_request"),
    ],
)
def test_each_text_search_reads_an_index_not_the_table(agent, text, index):
    """At a million rows a search that reads the whole table takes ~80 ms instead of ~5."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.home import registry

    with CaptureQueriesContext(connection) as captured:
        for source in registry.search_sources():
            source.find(agent, text, 5)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for query in captured.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert any(index in plan for plan in plans), plans
    assert not any("Seq Scan on payments_payment" in plan for plan in plans), plans
