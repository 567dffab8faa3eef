"""Maker-checker rules for refunds, at the service layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.approvals import services
from apps.approvals.errors import (
    DecisionNotAllowed,
    ReauthenticationRequired,
    RequestChanged,
    RequestNotAllowed,
)
from apps.approvals.models import Decision, OutboundCall, RequestStatus
from apps.payments.models import Payment, PaymentStatus
from tests.approvals.conftest import make_payment

pytestmark = pytest.mark.django_db


def ask(user, payment, amount=2_500, reason="Customer was charged twice"):
    return services.request_refund(
        requester=user,
        payment_id=payment.payment_id,
        amount_cents=amount,
        category="duplicate_charge",
        reason=reason,
    )


def approve(request, manager, comment="Checked the duplicate", authenticated_at=None):
    return services.approve_request(
        approval_request=request,
        approver=manager,
        comment=comment,
        authenticated_at=authenticated_at or timezone.now(),
    )


def test_an_agent_requests_a_partial_refund(agent, payment):
    refund_request = ask(agent, payment)
    assert refund_request.status == RequestStatus.REQUESTED
    assert refund_request.amount_cents == 2_500
    assert refund_request.currency == "EUR"
    assert refund_request.required_approvals == 1
    assert refund_request.requested_by == agent
    assert refund_request.expires_at > timezone.now() + timedelta(hours=71)


def test_the_amount_is_checked_against_what_is_still_refundable(agent, db):
    payment = make_payment(
        amount_cents=10_000, refunded_cents=3_000, status=PaymentStatus.PARTIALLY_REFUNDED
    )
    ask(agent, payment, amount=5_000)  # 2,000 left now
    with pytest.raises(RequestNotAllowed) as refused:
        ask(agent, payment, amount=2_001)
    assert refused.value.code == "amount_exceeds_refundable"
    assert ask(agent, payment, amount=2_000).amount_cents == 2_000


def test_an_auditor_cannot_request(auditor, payment):
    with pytest.raises(RequestNotAllowed) as refused:
        ask(auditor, payment)
    assert refused.value.code == "role"


def test_a_reason_is_required(agent, payment):
    with pytest.raises(RequestNotAllowed) as refused:
        ask(agent, payment, reason="   ")
    assert refused.value.code == "reason_required"


@pytest.mark.parametrize(
    "status", [PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.REFUNDED]
)
def test_payments_that_are_not_settled_cannot_be_refunded(agent, db, status):
    with pytest.raises(RequestNotAllowed) as refused:
        ask(agent, make_payment(status=status))
    assert refused.value.code == "not_refundable"


def test_a_payment_the_portal_has_not_seen_cannot_be_refunded(agent, db):
    import uuid

    with pytest.raises(RequestNotAllowed) as refused:
        services.request_refund(
            requester=agent, payment_id=uuid.uuid4(), amount_cents=100, category="other", reason="x"
        )
    assert refused.value.code == "payment_not_found"


def test_an_agent_cannot_approve(agent, manager, payment):
    refund_request = ask(manager, payment)
    with pytest.raises(DecisionNotAllowed) as refused:
        approve(refund_request, agent)
    assert refused.value.code == "role"


def test_nobody_approves_their_own_request(manager, payment):
    refund_request = ask(manager, payment)
    with pytest.raises(DecisionNotAllowed) as refused:
        approve(refund_request, manager)
    assert refused.value.code == "own_request"
    with pytest.raises(DecisionNotAllowed):
        services.reject_request(approval_request=refund_request, rejecter=manager, comment="no")


def test_a_manager_approval_queues_exactly_one_call(agent, manager, payment):
    refund_request = approve(ask(agent, payment), manager)
    assert refund_request.status == RequestStatus.APPROVED
    call = OutboundCall.objects.get(refund_request=refund_request)
    assert call.idempotency_key == f"portal:payments.create_refund:{refund_request.pk}"
    assert call.body == {
        "amount_cents": 2_500,
        "currency": "EUR",
        "reason": "Customer was charged twice",
        "reference": str(refund_request.pk),
    }
    with pytest.raises(DecisionNotAllowed) as refused:
        approve(refund_request, manager)
    assert refused.value.code == "already_decided"


def test_a_comment_is_required_to_decide(agent, manager, payment):
    with pytest.raises(DecisionNotAllowed) as refused:
        approve(ask(agent, payment), manager, comment=" ")
    assert refused.value.code == "comment_required"


def test_above_the_threshold_two_distinct_managers_must_approve(
    settings, agent, manager, other_manager, payment
):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:20,JPY:5000"
    refund_request = ask(agent, payment, amount=2_500)  # 25.00 EUR > 20 EUR
    assert refund_request.required_approvals == 2
    assert refund_request.rules_in_force["thresholds_minor"] == {"EUR": 2_000, "JPY": 5_000}

    refund_request = approve(refund_request, manager)
    assert refund_request.status == RequestStatus.REQUESTED
    with pytest.raises(DecisionNotAllowed) as refused:
        approve(refund_request, manager)
    assert refused.value.code == "already_approved"
    assert not OutboundCall.objects.exists()

    refund_request = approve(refund_request, other_manager)
    assert refund_request.status == RequestStatus.APPROVED
    assert OutboundCall.objects.count() == 1
    decision_rules = Decision.objects.filter(refund_request=refund_request).values_list(
        "rules_in_force", flat=True
    )
    assert all(rules["thresholds_minor"]["EUR"] == 2_000 for rules in decision_rules)


def test_a_currency_without_a_threshold_needs_two_managers(settings, agent, db):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:1000"
    payment = make_payment(currency="JPY", amount_cents=5_000)
    assert ask(agent, payment, amount=100).required_approvals == 2


def test_approving_needs_a_recent_sign_in(agent, manager, payment):
    refund_request = ask(agent, payment)
    with pytest.raises(ReauthenticationRequired):
        approve(refund_request, manager, authenticated_at=timezone.now() - timedelta(minutes=16))
    with pytest.raises(ReauthenticationRequired):
        services.approve_request(
            approval_request=refund_request, approver=manager, comment="ok", authenticated_at=None
        )
    assert approve(refund_request, manager).status == RequestStatus.APPROVED


def test_approval_is_refused_when_the_payment_changed_since_the_request(agent, manager, payment):
    refund_request = ask(agent, payment)
    Payment.objects.filter(pk=payment.pk).update(
        refunded_cents=9_000, status=PaymentStatus.PARTIALLY_REFUNDED
    )
    with pytest.raises(RequestChanged) as refused:
        approve(refund_request, manager)
    assert refused.value.code == "target_changed"
    assert "9000 of 10000 refunded" in refused.value.message
    # 1,000 left: the 2,500 request can no longer be re-checked into shape.
    with pytest.raises(RequestChanged) as refused:
        services.recheck_request(approval_request=refund_request, actor_user=agent)
    assert refused.value.code == "amount_exceeds_refundable"


def test_a_recheck_binds_the_request_to_the_new_state_and_voids_earlier_approvals(
    settings, agent, manager, other_manager, payment
):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:20"
    refund_request = approve(ask(agent, payment), manager)
    Payment.objects.filter(pk=payment.pk).update(
        refunded_cents=1_000, status=PaymentStatus.PARTIALLY_REFUNDED
    )
    refund_request = services.recheck_request(approval_request=refund_request, actor_user=agent)
    refund_request = approve(refund_request, other_manager)
    assert refund_request.status == RequestStatus.REQUESTED, (
        "the approval before the re-check must not count"
    )
    assert approve(refund_request, manager).status == RequestStatus.APPROVED


def test_a_tampered_request_is_refused(agent, manager, payment):
    refund_request = ask(agent, payment)
    type(refund_request).objects.filter(pk=refund_request.pk).update(amount_cents=9_999)
    refund_request.refresh_from_db()
    with pytest.raises(RequestChanged) as refused:
        approve(refund_request, manager)
    assert refused.value.code == "payload_changed"


def test_a_rejection_is_final(agent, manager, other_manager, payment):
    refund_request = ask(agent, payment)
    refund_request = services.reject_request(
        approval_request=refund_request, rejecter=manager, comment="Not a duplicate"
    )
    assert refund_request.status == RequestStatus.REJECTED
    with pytest.raises(DecisionNotAllowed):
        approve(refund_request, other_manager)


def test_only_the_requester_cancels_and_only_before_a_decision(
    agent, manager, other_manager, payment
):
    refund_request = ask(agent, payment)
    with pytest.raises(DecisionNotAllowed):
        services.cancel_request(approval_request=refund_request, actor_user=manager)
    assert (
        services.cancel_request(approval_request=refund_request, actor_user=agent).status
        == RequestStatus.CANCELLED
    )
    approved = approve(ask(agent, payment), other_manager)
    with pytest.raises(DecisionNotAllowed):
        services.cancel_request(approval_request=approved, actor_user=agent)


def test_cancelled_amounts_are_refundable_again(agent, db):
    payment = make_payment(amount_cents=1_000)
    first = ask(agent, payment, amount=1_000)
    services.cancel_request(approval_request=first, actor_user=agent)
    assert ask(agent, payment, amount=1_000).amount_cents == 1_000


def test_undecided_requests_expire(agent, manager, payment):
    refund_request = ask(agent, payment)
    assert services.expire_overdue_requests(now=timezone.now() + timedelta(hours=73)) == 1
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.EXPIRED
    with pytest.raises(DecisionNotAllowed):
        approve(refund_request, manager)
