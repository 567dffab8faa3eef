"""Two managers at once produce one outcome; events close the loop."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.approvals import services
from apps.approvals.errors import ApprovalError
from apps.approvals.models import Decision, OutboundCall, RequestStatus
from apps.approvals.services import RefundObserved
from tests.approvals.conftest import make_account, make_payment


@pytest.mark.django_db(transaction=True)
def test_two_managers_approving_at_the_same_moment_produce_one_outcome(
    agent, manager, other_manager
):
    payment = make_payment()
    refund_request = services.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=1_000,
        category="other",
        reason="Late delivery",
    )
    barrier = threading.Barrier(2)
    results: list[str] = []

    def decide(person):
        try:
            barrier.wait()
            services.approve_request(
                approval_request=refund_request,
                approver=person,
                comment="ok",
                authenticated_at=timezone.now(),
            )
            results.append("approved")
        except ApprovalError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(person,)) for person in (manager, other_manager)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["already_decided", "approved"]
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.APPROVED
    assert Decision.objects.filter(refund_request=refund_request).count() == 1
    assert OutboundCall.objects.filter(refund_request=refund_request).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_overdraw_a_payment(agent, manager):
    payment = make_payment(amount_cents=1_000)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def ask(person):
        try:
            barrier.wait()
            services.request_refund(
                requester=person,
                payment_id=payment.payment_id,
                amount_cents=800,
                category="other",
                reason="x",
            )
            results.append("requested")
        except ApprovalError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(person,)) for person in (agent, manager)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["amount_exceeds_refundable", "requested"]


@pytest.mark.django_db
def test_refund_events_carrying_the_reference_settle_the_request(agent, manager):
    payment = make_payment()
    succeeded = services.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=1_000,
        category="other",
        reason="a",
    )
    failed = services.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=1_000,
        category="other",
        reason="b",
    )
    for refund_request in (succeeded, failed):
        services.approve_request(
            approval_request=refund_request,
            approver=manager,
            comment="ok",
            authenticated_at=timezone.now(),
        )
    refund_ids = [uuid.uuid4(), uuid.uuid4()]
    settled = services.settle_refunds_from_events(
        refunds=[
            RefundObserved(refund_ids[0], str(succeeded.pk), "succeeded", ""),
            RefundObserved(refund_ids[1], str(failed.pk), "failed", "card expired"),
            RefundObserved(uuid.uuid4(), "not-from-the-portal", "succeeded", ""),
            RefundObserved(uuid.uuid4(), "", "succeeded", ""),
        ]
    )
    assert settled == 2
    succeeded.refresh_from_db()
    failed.refresh_from_db()
    assert (succeeded.status, succeeded.refund_id) == (RequestStatus.SUCCEEDED, refund_ids[0])
    assert (failed.status, failed.failure_message) == (RequestStatus.FAILED, "card expired")


@pytest.mark.django_db
def test_a_pending_refund_event_marks_the_request_submitted_and_never_goes_backwards(
    agent, manager
):
    payment = make_payment()
    refund_request = services.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=1_000,
        category="other",
        reason="a",
    )
    services.approve_request(
        approval_request=refund_request,
        approver=manager,
        comment="ok",
        authenticated_at=timezone.now(),
    )
    refund_id = uuid.uuid4()
    services.settle_refunds_from_events(
        refunds=[RefundObserved(refund_id, str(refund_request.pk), "pending", "")]
    )
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED
    services.settle_refunds_from_events(
        refunds=[RefundObserved(refund_id, str(refund_request.pk), "succeeded", "")]
    )
    services.settle_refunds_from_events(
        refunds=[RefundObserved(refund_id, str(refund_request.pk), "pending", "")]
    )
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUCCEEDED


@pytest.mark.django_db
def test_account_updates_confirm_a_freeze(agent, manager):
    account = make_account()
    freeze = services.request_account_freeze(
        requester=agent, account_id=account.account_id, action="freeze", reason="Suspected fraud"
    )
    services.approve_request(
        approval_request=freeze, approver=manager, comment="ok", authenticated_at=timezone.now()
    )
    assert services.settle_freezes_from_events(accounts=[(account.account_id, "active")]) == 0
    assert services.settle_freezes_from_events(accounts=[(account.account_id, "frozen")]) == 1
    freeze.refresh_from_db()
    assert freeze.status == RequestStatus.SUCCEEDED


@pytest.mark.django_db
def test_only_active_accounts_can_be_frozen_and_only_once_at_a_time(agent):
    account = make_account()
    services.request_account_freeze(
        requester=agent, account_id=account.account_id, action="freeze", reason="x"
    )
    with pytest.raises(ApprovalError) as refused:
        services.request_account_freeze(
            requester=agent, account_id=account.account_id, action="freeze", reason="y"
        )
    assert refused.value.code == "already_requested"
    with pytest.raises(ApprovalError) as refused:
        services.request_account_freeze(
            requester=agent, account_id=account.account_id, action="unfreeze", reason="z"
        )
    assert refused.value.code == "invalid_state"
