"""Each role's start page answers its first question, against data whose answers we know."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import RefundRequest
from apps.audit.services import Actor, Outcome, record, verify_chain
from apps.events.models import DeadLetter
from apps.payments.models import Refund, RefundStatus
from tests.approvals.conftest import approve_now, make_account, make_payment, refund_request_by
from tests.factories import UserFactory
from tests.home.conftest import card, figures

pytestmark = pytest.mark.django_db


def reject(approval_request, manager):
    return services.reject_request(
        approval_request=approval_request, rejecter=manager, comment="not a duplicate"
    )


def start_page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


# --- agent ------------------------------------------------------------------------------


def test_an_agent_sees_open_requests_with_live_status_and_what_was_decided_since(
    agent_client, agent, manager
):
    other_agent = UserFactory(username="bob.agent", roles=["agent"])
    still_open = refund_request_by(agent, make_payment())
    decided = refund_request_by(agent, make_payment())
    refund_request_by(other_agent, make_payment())  # not hers: counts nowhere
    reject(decided, manager)

    section = card(start_page(agent_client), "approvalsrequester")
    shown = figures(section)
    assert shown["open"] == {"value": "1", "url": "/requests/?state=open", "tone": ""}
    assert shown["decided"]["value"] == "1"
    assert shown["decided"]["url"] == "/requests/?state=decided"
    # The open request's status polls on its own (live), the decided one is not listed.
    assert f'hx-get="/requests/{still_open.pk}/status/"' in section
    assert str(decided.pk) not in section

    # Opening "My requests" is looking: nothing is new after it, until the next decision.
    assert agent_client.get(reverse("approvals:mine")).status_code == 200
    shown = figures(card(start_page(agent_client), "approvalsrequester"))
    assert shown["decided since you last looked"]["value"] == "0"
    reject(still_open, manager)
    shown = figures(card(start_page(agent_client), "approvalsrequester"))
    assert shown["decided since you last looked"]["value"] == "1"
    assert shown["open"]["value"] == "0"


def test_the_numbers_open_the_list_filtered_to_them(agent_client, agent, manager):
    open_one = refund_request_by(agent, make_payment())
    decided = refund_request_by(agent, make_payment())
    reject(decided, manager)
    open_list = agent_client.get("/requests/?state=open").content.decode()
    decided_list = agent_client.get("/requests/?state=decided").content.decode()
    assert str(open_one.pk) in open_list
    assert str(decided.pk) not in open_list
    assert str(decided.pk) in decided_list
    assert str(open_one.pk) not in decided_list


def test_the_records_an_agent_opened_are_listed_newest_first(agent_client, auditor_client):
    payment = make_payment(merchant_reference="ORD-77")
    account = make_account(owner_name="Grace Hopper")
    agent_client.get(reverse("payments:detail", args=[payment.payment_id]))
    agent_client.get(reverse("accounts:detail", args=[account.account_id]))
    section = card(start_page(agent_client), "workspacerecent")
    assert section.index("Grace Hopper") < section.index("ORD-77")
    assert f'href="/payments/{payment.payment_id}/"' in section
    # Each person's own history: the auditor opened nothing.
    assert "ORD-77" not in card(start_page(auditor_client), "workspacerecent")


# --- manager ------------------------------------------------------------------------------


def test_a_manager_sees_the_queue_split_the_oldest_age_and_today(
    manager_client, manager, other_manager, agent, settings
):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:50"
    settings.APPROVAL_TARGET_HOURS = 4
    small = refund_request_by(agent, make_payment(), amount_cents=2_500)
    big = refund_request_by(agent, make_payment(), amount_cents=9_000)  # needs two managers
    approve_now(big, other_manager)
    refund_request_by(manager, make_payment(), amount_cents=1_000)  # his own: not for him
    decided = refund_request_by(agent, make_payment(), amount_cents=1_500)
    reject(decided, other_manager)
    RefundRequest.objects.filter(pk=small.pk).update(
        requested_at=timezone.now() - timedelta(hours=5, minutes=3)
    )

    shown = figures(card(start_page(manager_client), "approvalsmanager"))
    assert shown["waiting for you"]["value"] == "2"  # small and big
    assert shown["waiting for you"]["url"] == "/requests/queue/?waiting=me"
    assert shown["waiting for a second manager"]["value"] == "1"
    assert shown["waiting for a second manager"]["url"] == "/requests/queue/?waiting=second"
    oldest = shown["oldest waiting (target 4 h)"]
    assert oldest["value"].startswith("5 h 0")
    assert oldest["tone"] == "bad"  # over the target
    assert shown["decided today"]["value"] == "1"
    assert shown["decided today"]["url"].startswith("/action-log/?created_from=")

    second = manager_client.get("/requests/queue/?waiting=second").content.decode()
    assert str(big.pk) in second
    assert str(small.pk) not in second


def test_the_oldest_age_is_within_target_when_young(manager_client, agent, settings):
    settings.APPROVAL_TARGET_HOURS = 4
    refund_request_by(agent, make_payment())
    oldest = figures(card(start_page(manager_client), "approvalsmanager"))[
        "oldest waiting (target 4 h)"
    ]
    assert oldest["tone"] == "ok"
    assert oldest["value"].endswith("min")


def test_the_refund_chart_shows_requested_approved_and_executed_per_currency(
    manager_client, manager, agent
):
    eur = refund_request_by(agent, make_payment(), amount_cents=2_550)
    approve_now(eur, manager)
    refund_request_by(agent, make_payment(currency="JPY", amount_cents=5_000), amount_cents=1_200)
    now = timezone.now()
    Refund.objects.create(
        refund_id=uuid.uuid4(),
        payment_id=eur.payment_id,
        amount_cents=2_550,
        currency="EUR",
        status=RefundStatus.SUCCEEDED,
        created_at=now,
        updated_at=now,
        sequence=1,
        synced_at=now,
    )
    section = card(start_page(manager_client), "approvalsmanager")
    assert section.count("<svg") == 2  # EUR and JPY
    assert 'role="img"' in section
    assert "<title" in section
    assert "<desc" in section
    # Major units, in the text alternative and the legend.
    assert "Refunds in EUR per day, 30 days" in section
    assert "Requested 25.50 EUR, Approved 25.50 EUR, Executed 25.50 EUR" in section
    assert "Requested 1200 JPY" in section
    assert "<script" not in section
    assert "style=" not in section


# --- auditor ------------------------------------------------------------------------------


def test_an_auditor_sees_the_chain_and_what_to_look_into(auditor_client):
    actor = Actor.system("test")
    for _ in range(2):
        record(action="access.denied", actor=actor, outcome=Outcome.REJECTED)
    record(action="identity.sign_in_failed", actor=actor, outcome=Outcome.FAILED)
    record(action="audit.export", actor=actor)
    record(action="payments.export", actor=actor)
    verify_chain(full=True)
    record(action="payments.export", actor=actor)
    verify_chain()

    section = card(start_page(auditor_client), "auditauditor")
    shown = figures(section)
    assert shown["chain status"]["value"] == "intact"
    assert shown["chain status"]["tone"] == "ok"
    assert shown["denied accesses, 24 h"]["value"] == "2"
    assert shown["denied accesses, 24 h"]["url"].startswith("/action-log/?action=access.denied")
    assert shown["failed sign-ins, 24 h"]["value"] == "1"
    assert shown["exports, 7 days"]["value"] == "3"
    # The auditor's sign-in, the six above and two verifications.
    assert shown["entries today"]["value"] == "9"
    assert "Last full verification" in section
    assert "intact through #6" in section
    assert "intact through #8" in section  # the incremental run, after the second export
    assert "payments.export 2" in section
    assert "Actions per day by outcome" in section
    assert "<svg" in section


def test_a_broken_chain_is_shown_as_broken(auditor_client):
    record(action="access.denied", actor=Actor.system("test"), outcome=Outcome.REJECTED)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_entry DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_entry SET reason = 'changed' WHERE sequence = 1")
        cursor.execute("ALTER TABLE audit_entry ENABLE TRIGGER USER")
    verify_chain(full=True)
    shown = figures(card(start_page(auditor_client), "auditauditor"))
    assert shown["chain status"] == {
        "value": "broken",
        "url": "/action-log/?action=audit.verify",
        "tone": "bad",
    }


# --- everyone ------------------------------------------------------------------------------


def test_dead_letters_show_only_when_some_wait(agent_client, auditor_client):
    assert "dead letters waiting" not in card(start_page(agent_client), "eventsintake")
    now = timezone.now()
    DeadLetter.objects.create(
        fingerprint="f" * 64,
        routing_key="payments.payment.created",
        body=b"{}",
        reason="bad json",
        first_seen=now,
        last_seen=now,
    )
    for client in (agent_client, auditor_client):
        assert figures(card(start_page(client), "eventsintake"))["dead letters waiting"] == {
            "value": "1",
            "url": "",
            "tone": "bad",
        }


def test_each_role_gets_its_own_cards(agent_client, manager_client, auditor_client):
    agent_page, manager_page, auditor_page = (
        start_page(c) for c in (agent_client, manager_client, auditor_client)
    )
    assert card(agent_page, "approvalsrequester")
    assert not card(agent_page, "approvalsmanager")
    assert card(manager_page, "approvalsmanager")
    assert not card(manager_page, "auditauditor")
    assert card(auditor_page, "auditauditor")
    assert not card(auditor_page, "approvalsrequester")
    for page in (agent_page, manager_page, auditor_page):
        assert card(page, "eventsintake")
        assert '<form class="topbar__search" role="search"' in page
        assert 'type="search"' in page


def test_the_start_page_takes_a_few_queries(
    manager_client, agent, manager, django_assert_max_num_queries
):
    for _ in range(5):
        refund_request_by(agent, make_payment())
    manager_client.get("/")  # warm the chart cache as the page does for a minute
    with django_assert_max_num_queries(20):
        manager_client.get("/")
