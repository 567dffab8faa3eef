"""The refund and freeze screens: what each role sees, what each button does, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import (
    CallStatus,
    FreezeRequest,
    OutboundCall,
    RefundRequest,
    RequestStatus,
)
from apps.audit.models import AuditEntry
from apps.identity.services import AUTH_TIME_KEY
from tests.approvals.conftest import make_payment, refund_request_by

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in_just_now(client: Client, *, minutes_ago: int = 1) -> Client:
    session = client.session
    session[AUTH_TIME_KEY] = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    session.save()
    return client


# --- requesting a refund on the payment page ----------------------------------------


def test_the_payment_page_offers_agents_the_refund_form_in_major_units(agent_client, payment):
    page = agent_client.get(reverse("payments:detail", args=[payment.payment_id])).content.decode()
    assert "Request refund" in page
    assert 'name="amount"' in page
    assert "At most €100.00 can be refunded" in page  # 10,000 cents shown in major units


def test_auditors_see_refund_requests_but_no_form(auditor_client, agent, payment):
    refund_request_by(agent, payment)
    page = auditor_client.get(
        reverse("payments:detail", args=[payment.payment_id])
    ).content.decode()
    assert "Waiting for approval" in page
    assert "Request refund" not in page
    assert "<form" not in page.split('id="refund-panel"')[1].split("</section>")[0]


def test_an_agent_requests_a_partial_refund_and_sees_it_pending(agent_client, agent, payment):
    response = agent_client.post(
        reverse("approvals:request_refund", args=[payment.payment_id]),
        {"amount": "25.50", "category": "duplicate_charge", "reason": "  Charged   twice  "},
        **HTMX,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Refund requested" in page
    assert "Waiting for approval" in page
    created = RefundRequest.objects.get()
    assert (created.amount_cents, created.currency, created.reason) == (
        2_550,
        "EUR",
        "Charged twice",
    )
    assert created.requested_by == agent
    assert created.status == RequestStatus.REQUESTED
    entry = AuditEntry.objects.get(action="refund.request")
    assert entry.params["payment_id"] == str(payment.payment_id)
    assert entry.actor_user_id == agent.pk


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("100.01", "At most €100.00 can be refunded"),
        ("12.345", "EUR amounts have 2 decimals"),
        ("0", "greater than zero"),
        ("ten", "Type an amount such as 12.50"),
    ],
)
def test_a_bad_amount_is_refused_with_a_clear_message_and_nothing_is_created(
    agent_client, payment, amount, message
):
    response = agent_client.post(
        reverse("approvals:request_refund", args=[payment.payment_id]),
        {"amount": amount, "category": "duplicate_charge", "reason": "charged twice"},
        **HTMX,
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert message in page
    assert 'value="' + amount + '"' in page  # what was typed is kept
    assert RefundRequest.objects.count() == 0


def test_amounts_already_requested_count_against_what_is_refundable(agent_client, agent, payment):
    refund_request_by(agent, payment, amount_cents=9_000)
    response = agent_client.post(
        reverse("approvals:request_refund", args=[payment.payment_id]),
        {"amount": "10.01", "category": "goodwill", "reason": "late delivery"},
        **HTMX,
    )
    assert response.status_code == 422
    assert "At most €10.00 can be refunded" in response.content.decode()


def test_a_missing_reason_and_category_are_shown_next_to_their_fields(agent_client, payment):
    response = agent_client.post(
        reverse("approvals:request_refund", args=[payment.payment_id]),
        {"amount": "1.00", "category": "", "reason": "   "},
        **HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "Give a reason for the refund." in page
    assert "Choose the category that fits best." in page


def test_the_inline_check_uses_the_currency_exponent(agent_client, db):
    yen = make_payment(currency="JPY", amount_cents=12_000)
    url = reverse("approvals:check_amount", args=[yen.payment_id])
    assert (
        "JPY amounts have no decimals" in agent_client.get(url, {"amount": "10.5"}).content.decode()
    )
    ok = agent_client.get(url, {"amount": "1200"}).content.decode()
    assert "field__error" not in ok
    assert "Refunds ¥1,200 of ¥12,000 still refundable." in ok


def test_a_failed_payment_offers_no_refund(agent_client, db):
    failed = make_payment(status="failed")
    page = agent_client.get(reverse("payments:detail", args=[failed.payment_id])).content.decode()
    assert "cannot be refunded" in page
    assert "Request refund…" not in page


def test_without_htmx_the_form_still_works_and_returns_to_the_payment(agent_client, payment):
    response = agent_client.post(
        reverse("approvals:request_refund", args=[payment.payment_id]),
        {"amount": "5", "category": "goodwill", "reason": "sorry"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:detail", args=[payment.payment_id])
    assert RefundRequest.objects.filter(amount_cents=500).exists()


# --- my requests and live status ---------------------------------------------------


def test_my_requests_lists_only_my_own_and_polls_while_one_is_open(
    agent_client, agent, manager, payment
):
    mine = refund_request_by(agent, payment)
    refund_request_by(manager, payment, reason="someone else's")
    response = agent_client.get(reverse("approvals:mine"))
    page = response.content.decode()
    assert reverse("approvals:detail", args=[mine.pk]) in page
    assert page.count("Refund of") == 1
    assert 'hx-trigger="every' in page

    services.cancel_request(approval_request=mine, actor_user=agent)
    page = agent_client.get(reverse("approvals:mine"), HTTP_HX_TARGET="my-requests", **HTMX)
    assert 'hx-trigger="every' not in page.content.decode()  # nothing open: polling stops
    assert "Cancelled" in page.content.decode()


def test_the_status_line_polls_until_the_request_is_final(agent_client, agent, payment):
    refund_request = refund_request_by(agent, payment)
    url = reverse("approvals:status", args=[refund_request.pk])
    assert 'hx-trigger="every' in agent_client.get(url, **HTMX).content.decode()
    RefundRequest.objects.filter(pk=refund_request.pk).update(status=RequestStatus.SUBMITTED)
    assert "waiting for its event" in agent_client.get(url, **HTMX).content.decode()
    RefundRequest.objects.filter(pk=refund_request.pk).update(
        status=RequestStatus.FAILED,
        failure_code="refund_exceeds_payment",
        failure_message="Too much",
    )
    final = agent_client.get(url, **HTMX).content.decode()
    assert 'hx-trigger="every' not in final
    assert "Too much" in final
    assert "refund_exceeds_payment" in final


def test_agents_see_only_their_own_requests(agent_client, manager, payment):
    other = refund_request_by(manager, payment)
    assert agent_client.get(reverse("approvals:detail", args=[other.pk])).status_code == 404


def test_the_requester_can_cancel_before_a_decision(agent_client, agent, payment):
    refund_request = refund_request_by(agent, payment)
    response = agent_client.post(
        reverse("approvals:cancel", args=[refund_request.pk]), {"place": "detail"}, **HTMX
    )
    assert "Request cancelled." in response.content.decode()
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.CANCELLED


# --- the approval queue --------------------------------------------------------------


def test_the_queue_shows_oldest_first_with_context_and_a_badge(manager_client, agent, payment):
    first = refund_request_by(agent, payment, amount_cents=1_000, reason="first reason")
    second = refund_request_by(agent, payment, amount_cents=2_000, reason="second reason")
    page = manager_client.get(reverse("approvals:queue")).content.decode()
    assert page.index("first reason") < page.index("second reason")
    assert f'id="request-{first.pk}"' in page
    assert f'id="request-{second.pk}"' in page
    assert "Refunded so far" in page
    assert "Payment amount" in page
    assert 'id="nav-badge-approvals-queue"' in page
    badge = page.split('id="nav-badge-approvals-queue"')[1].split("</span></span>")[0]
    assert "2 waiting" in badge
    assert "hidden" not in badge.split(">")[0]
    assert 'hx-trigger="every' in page  # the queue refreshes itself


def test_the_badge_counts_only_what_this_manager_may_decide(manager_client, manager, payment):
    refund_request_by(manager, payment)  # their own request: not theirs to decide
    page = manager_client.get(reverse("home:index")).content.decode()
    badge = page.split('id="nav-badge-approvals-queue"')[1].split(">")[0]
    assert "hidden" in badge


def test_a_manager_sees_no_decision_buttons_on_their_own_request(manager_client, manager, payment):
    own = refund_request_by(manager, payment)
    page = manager_client.get(reverse("approvals:detail", args=[own.pk])).content.decode()
    assert "This is your own request" in page
    assert reverse("approvals:approve", args=[own.pk]) not in page


def test_agents_and_auditors_cannot_open_the_queue(agent_client, auditor_client):
    assert agent_client.get(reverse("approvals:queue")).status_code == 403
    assert auditor_client.get(reverse("approvals:queue")).status_code == 403


def test_approving_without_a_recent_sign_in_sends_the_manager_to_sign_in_again(
    manager_client, agent, payment
):
    refund_request = refund_request_by(agent, payment)
    signed_in_just_now(manager_client, minutes_ago=30)
    page = manager_client.get(reverse("approvals:queue")).content.decode()
    assert "Sign in again to approve" in page
    response = manager_client.post(
        reverse("approvals:approve", args=[refund_request.pk]),
        {"comment": "looks right", "place": "queue"},
        **HTMX,
    )
    assert response["HX-Redirect"].startswith(reverse("identity:reauthenticate"))
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.REQUESTED
    refusal = AuditEntry.objects.get(action="refund.approve")
    assert (refusal.outcome, refusal.params["code"]) == ("rejected", "reauthentication_required")


def test_approving_queues_the_call_and_updates_the_card_in_place(manager_client, agent, payment):
    refund_request = refund_request_by(agent, payment)
    signed_in_just_now(manager_client)
    response = manager_client.post(
        reverse("approvals:approve", args=[refund_request.pk]),
        {"comment": "verified with the bank statement", "place": "queue"},
        **HTMX,
    )
    page = response.content.decode()
    assert "Approved and sent to the service" in page
    assert f'id="request-{refund_request.pk}"' in page
    assert 'hx-swap-oob="true"' in page  # the navigation badge follows
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.APPROVED
    call = OutboundCall.objects.get(refund_request=refund_request)
    assert call.idempotency_key == f"portal:payments.create_refund:{refund_request.pk}"
    entry = AuditEntry.objects.get(action="refund.approve")
    assert entry.reason == "verified with the bank statement"
    assert entry.params["payment_id"] == str(payment.payment_id)


def test_a_decision_needs_a_comment(manager_client, agent, payment):
    refund_request = refund_request_by(agent, payment)
    signed_in_just_now(manager_client)
    response = manager_client.post(
        reverse("approvals:reject", args=[refund_request.pk]), {"comment": " "}, **HTMX
    )
    assert "Add a comment to your decision." in response.content.decode()
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.REQUESTED


def test_rejecting_is_final_and_the_requester_sees_the_comment(
    manager_client, agent_client, agent, payment
):
    refund_request = refund_request_by(agent, payment)
    manager_client.post(
        reverse("approvals:reject", args=[refund_request.pk]),
        {"comment": "duplicate of an earlier refund"},
        **HTMX,
    )
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.REJECTED
    page = agent_client.get(reverse("approvals:detail", args=[refund_request.pk])).content.decode()
    assert "duplicate of an earlier refund" in page
    assert "Rejected" in page


def test_a_stale_request_is_refused_with_the_reason_and_can_be_rechecked(
    manager_client, agent, payment
):
    refund_request = refund_request_by(agent, payment)
    payment.refunded_cents = 1_000  # another refund landed since the request was checked
    payment.save()
    signed_in_just_now(manager_client)
    url = reverse("approvals:approve", args=[refund_request.pk])
    refused = manager_client.post(url, {"comment": "ok"}, **HTMX).content.decode()
    assert "Re-check the request before deciding." in refused
    manager_client.post(reverse("approvals:recheck", args=[refund_request.pk]), **HTMX)
    approved = manager_client.post(url, {"comment": "ok now"}, **HTMX).content.decode()
    assert "Approved and sent to the service" in approved


def test_an_abandoned_call_can_be_sent_again_by_a_manager(manager_client, agent, manager, payment):
    refund_request = refund_request_by(agent, payment)
    services.approve_request(
        approval_request=refund_request,
        approver=manager,
        comment="ok",
        authenticated_at=timezone.now(),
    )
    OutboundCall.objects.filter(refund_request=refund_request).update(status=CallStatus.ABANDONED)
    RefundRequest.objects.filter(pk=refund_request.pk).update(
        failure_code="service_unreachable", failure_message="The payments service did not answer."
    )
    page = manager_client.get(
        reverse("approvals:detail", args=[refund_request.pk])
    ).content.decode()
    assert "The payments service did not answer." in page
    response = manager_client.post(reverse("approvals:retry", args=[refund_request.pk]), **HTMX)
    assert "Sent again, with the same idempotency key." in response.content.decode()
    assert OutboundCall.objects.get(refund_request=refund_request).status == CallStatus.PENDING


def test_a_retry_while_the_call_is_being_sent_is_refused_with_the_reason(
    manager_client, agent, other_manager, payment
):
    refund_request = refund_request_by(agent, payment)
    services.approve_request(
        approval_request=refund_request,
        approver=other_manager,
        comment="ok",
        authenticated_at=timezone.now(),
    )
    OutboundCall.objects.filter(refund_request=refund_request).update(
        status=CallStatus.SENDING,
        attempts=3,
        last_attempt_at=timezone.now(),
        claimed_until=timezone.now() + timedelta(seconds=17),
    )
    page = manager_client.get(
        reverse("approvals:detail", args=[refund_request.pk])
    ).content.decode()
    assert "Send lease" in page
    response = manager_client.post(reverse("approvals:retry", args=[refund_request.pk]), **HTMX)
    body = response.content.decode()
    assert "Attempt 3 is being sent to the service right now" in body
    call = OutboundCall.objects.get(refund_request=refund_request)
    assert (call.status, call.attempts) == (CallStatus.SENDING, 3)


# --- freezes on the account page ---------------------------------------------------------


def test_an_agent_requests_a_freeze_and_a_second_one_is_refused(agent_client, account):
    url = reverse("approvals:request_freeze", args=[account.account_id])
    page = agent_client.get(reverse("accounts:detail", args=[account.account_id])).content.decode()
    assert "Request freeze…" in page
    response = agent_client.post(
        url, {"action": "freeze", "reason": "card reported stolen"}, **HTMX
    )
    assert response.status_code == 200
    assert "Freeze requested" in response.content.decode()
    assert "Request freeze…" not in response.content.decode()  # one open request at a time
    again = agent_client.post(url, {"action": "freeze", "reason": "again"}, **HTMX)
    assert again.status_code == 422
    assert "already open" in again.content.decode()
    assert FreezeRequest.objects.count() == 1


def test_a_frozen_account_offers_unfreeze(agent_client, db):
    from tests.approvals.conftest import make_account

    frozen = make_account(status="frozen")
    page = agent_client.get(reverse("accounts:detail", args=[frozen.account_id])).content.decode()
    assert "Request unfreeze…" in page


def test_a_freeze_without_a_reason_is_refused(agent_client, account):
    response = agent_client.post(
        reverse("approvals:request_freeze", args=[account.account_id]),
        {"action": "freeze", "reason": ""},
        **HTMX,
    )
    assert response.status_code == 422
    assert "Give a reason." in response.content.decode()
    assert FreezeRequest.objects.count() == 0


def test_auditors_see_no_action_buttons_on_any_request_page(
    auditor_client, agent, payment, account
):
    refund_request = refund_request_by(agent, payment)
    pages = [
        reverse("approvals:detail", args=[refund_request.pk]),
        reverse("payments:detail", args=[payment.payment_id]),
        reverse("accounts:detail", args=[account.account_id]),
    ]
    for url in pages:
        page = auditor_client.get(url).content.decode()
        for label in ("Approve…", "Reject…", "Request refund", "Request freeze", "Cancel request"):
            assert label not in page, (url, label)
