"""Slow Go APIs, over real HTTP to the stand-in: one deadline per call, one send in flight per key,
the in-flight 409 is transient, and the service's events settle what the portal gave up on."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.approvals import clients, selectors, services
from apps.approvals.errors import ApprovalError
from apps.approvals.models import CallStatus, FreezeRequest, OutboundCall, RequestStatus
from apps.audit.models import AuditEntry
from tests.approvals.conftest import (
    approved_refund,
    make_account,
    mirrored_payment,
    send_until_settled,
)
from tests.events.conftest import RunningIntake, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def submit_entries(approval_request) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            target_id=str(approval_request.pk), action__endswith=".submit"
        ).order_by("sequence")
    )


def refunds_made_for(standin, approval_request) -> int:
    return len(
        [r for r in standin.services.refunds.values() if r.reference == str(approval_request.pk)]
    )


# --- one deadline per call ---------------------------------------------------------------


def test_a_body_trickling_past_the_total_deadline_ends_as_a_transient_timeout(standin):
    payment = standin.services.create_payment(status="settled", currency="EUR")
    client = clients.GoServiceClient(
        service="payments",
        base_url=standin.url,
        token="payments-token",
        connect_timeout=0.5,
        timeout=1.0,
    )
    standin.services.faults.update({"trickle_next": 1, "trickle_seconds": 6})
    started = time.monotonic()
    with pytest.raises(clients.TransientApiError) as raised:
        client.post(
            f"/v1/payments/{payment.payment_id}/refunds",
            json={"amount_cents": 100, "currency": "EUR", "reason": "x", "reference": "r"},
            idempotency_key="trickled",
            request_id="test",
        )
    elapsed = time.monotonic() - started
    client.close()
    assert raised.value.code == "timeout"
    # Each byte came well within httpx's per-read timeout; only the total deadline cut it.
    assert 0.9 <= elapsed < 2.0
    assert standin.services.effect_count("trickled") == 1  # the service did act: a lost answer


def test_a_slow_body_inside_the_deadline_is_read_whole(standin):
    payment = standin.services.create_payment(status="settled", currency="EUR")
    client = clients.GoServiceClient(
        service="payments", base_url=standin.url, token="payments-token", connect_timeout=0.5,
        timeout=3.0,
    )  # fmt: skip
    standin.services.faults.update({"trickle_next": 1, "trickle_seconds": 0.6})
    answer = client.post(
        f"/v1/payments/{payment.payment_id}/refunds",
        json={"amount_cents": 100, "currency": "EUR", "reason": "x", "reference": "r"},
        idempotency_key="slow-but-in-time",
        request_id="test",
    )
    client.close()
    assert (answer.status, answer.body["status"]) == (202, "pending")


# --- never two sends in flight -----------------------------------------------------------


def test_a_trickled_202_raced_by_two_workers_and_the_sweep_is_sent_one_at_a_time(
    agent, manager, standin, settings
):
    """Two workers and the sweep all try to send one call whose 202 trickles in past the deadline."""
    settings.GO_API_TIMEOUT = 1.0
    settings.GO_API_RETRY_BASE_SECONDS = 0.5  # the service notices the dropped call meanwhile
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    # The first two answers (the refund's 202, then its replay) trickle over 4 s each.
    standin.services.faults.update({"trickle_next": 2, "trickle_seconds": 4})
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_trying(sweep: bool) -> None:
        try:
            while not stop.is_set():
                due = selectors.due_outbound_calls() if sweep else [call.pk]
                for call_id in due:
                    services.perform_outbound_call(call_id=call_id)
                time.sleep(0.02)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    racers = [threading.Thread(target=keep_trying, args=(sweep,)) for sweep in (False, False, True)]
    for racer in racers:
        racer.start()
    try:
        wait_until(
            lambda: OutboundCall.objects.filter(pk=call.pk, status=CallStatus.ACCEPTED).exists(),
            timeout=30,
        )
    finally:
        stop.set()
        for racer in racers:
            racer.join()
    assert errors == []
    traffic = standin.services.key_traffic(call.idempotency_key)
    assert traffic.max_in_flight == 1
    assert standin.services.effect_count(call.idempotency_key) == 1
    assert refunds_made_for(standin, refund_request) == 1
    call.refresh_from_db()
    assert call.attempts == traffic.calls == 3  # two cut off at the deadline, one accepted
    entries = submit_entries(refund_request)
    assert [entry.params["attempt"] for entry in entries] == [1, 2, 3]
    assert [entry.api_error_code for entry in entries] == ["timeout", "timeout", ""]
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED


def test_the_sweep_leaves_a_call_alone_while_its_lease_lasts(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    long_ago = timezone.now() - timedelta(minutes=10)
    OutboundCall.objects.filter(pk=call.pk).update(
        status=CallStatus.SENDING,
        attempts=1,
        last_attempt_at=long_ago,
        claimed_until=timezone.now() + timedelta(seconds=30),
    )
    assert call.pk not in selectors.due_outbound_calls()
    assert services.perform_outbound_call(call_id=call.pk).status == "busy"
    assert standin.services.key_traffic(call.idempotency_key).calls == 0

    OutboundCall.objects.filter(pk=call.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert call.pk in selectors.due_outbound_calls()
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    entries = submit_entries(refund_request)
    assert [(e.params["attempt"], e.api_error_code) for e in entries] == [
        (1, "lease_expired"),
        (2, ""),
    ]


def test_an_answer_after_the_lease_ran_out_does_not_overwrite_the_newer_attempt(
    agent, manager, standin, settings
):
    """A stalled sender (here: a lease set shorter than the deadline) is fenced by its attempt number."""
    settings.GO_API_TIMEOUT = 3.0
    settings.GO_API_CONNECT_TIMEOUT = 0.2
    settings.GO_API_LEASE_MARGIN_SECONDS = -3.0  # lease 0.2 s: a misconfiguration, on purpose
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"latency_ms": 1_200})
    first: list[services.CallOutcome] = []

    def stalled_sender() -> None:
        try:
            first.append(services.perform_outbound_call(call_id=call.pk))
        finally:
            connection.close()

    sender = threading.Thread(target=stalled_sender)
    sender.start()
    time.sleep(0.5)  # attempt 1 is still waiting for the service; its lease has run out
    second = services.perform_outbound_call(call_id=call.pk)
    assert second.status == CallStatus.PENDING  # 409 idempotency_key_in_use: transient
    sender.join()
    assert first[0].status == "superseded"
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.PENDING, 2)  # attempt 2's result stands
    late = submit_entries(refund_request)[-1]
    assert (late.params["attempt"], late.params["late"]) == (1, True)
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    assert standin.services.effect_count(call.idempotency_key) == 1


# --- 409 idempotency_key_in_use is transient -----------------------------------------------


def test_an_in_flight_409_then_a_202_leaves_the_request_submitted(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"conflict_next": ["idempotency_key_in_use"]})
    first = services.perform_outbound_call(call_id=call.pk)
    assert first.status == CallStatus.PENDING
    assert first.retry_in is not None
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.APPROVED
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED
    assert [(e.params["attempt"], e.api_error_code) for e in submit_entries(refund_request)] == [
        (1, "idempotency_key_in_use"),
        (2, ""),
    ]
    assert standin.services.effect_count(call.idempotency_key) == 1


def test_a_timeout_after_execution_then_key_in_use_then_the_first_answer(
    agent, manager, standin, settings
):
    """The service is still running the first call when the portal retries: 409, then the replay."""
    settings.GO_API_RETRY_BASE_SECONDS = 0.2
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update(
        {"timeout_next": 1, "timeout_seconds": 1.5, "apply_on_failure": True}
    )
    assert send_until_settled(call.pk, attempts=20) == CallStatus.ACCEPTED
    codes = [e.api_error_code for e in submit_entries(refund_request)]
    assert (codes[0], codes[-1]) == ("timeout", "")
    assert "idempotency_key_in_use" in codes
    assert standin.services.effect_count(call.idempotency_key) == 1
    assert standin.services.key_traffic(call.idempotency_key).max_in_flight == 2  # the 409s
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED


def test_other_409s_stay_final(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"conflict_next": ["amount_exceeds_refundable"]})
    assert services.perform_outbound_call(call_id=call.pk).status == CallStatus.REFUSED
    refund_request.refresh_from_db()
    assert (refund_request.status, refund_request.failure_code) == (
        RequestStatus.FAILED,
        "amount_exceeds_refundable",
    )


# --- the events are the truth ----------------------------------------------------------------


def test_an_abandoned_refund_is_settled_by_the_services_events_and_flagged(
    agent, manager, other_manager, standin, bus, settings, manager_client: Client
):
    settings.GO_API_MAX_ATTEMPTS = 1
    remote = mirrored_payment(standin, currency="EUR", amount_cents=3_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    # The refund is made, but the answer is a 503: the portal gives up on the call.
    standin.services.faults.update({"fail_next": [503], "apply_on_failure": True})
    assert services.perform_outbound_call(call_id=call.pk).status == CallStatus.ABANDONED

    # The service's refund.* events, queued meanwhile, reach the portal after it gave up.
    intake = RunningIntake(bus.config()).start()
    try:

        def succeeded() -> bool:
            refund_request.refresh_from_db()
            return refund_request.status == RequestStatus.SUCCEEDED

        wait_until(succeeded, timeout=15)
    finally:
        intake.stop()
    assert refund_request.overridden_belief == "abandoned (service_unreachable)"
    assert refund_request.overridden_by_event_at is not None
    assert refund_request.failure_code == ""
    settle = AuditEntry.objects.filter(
        target_id=str(refund_request.pk), action="refund.settle", params__has_key="overrode"
    ).get()
    assert settle.params["overrode"] == "abandoned (service_unreachable)"
    assert "overrode the portal's belief" in settle.reason
    assert standin.services.effect_count(call.idempotency_key) == 1

    # The managers' queue history shows it; a retry is refused: the service already did it.
    page = manager_client.get(reverse("approvals:queue")).content.decode()
    assert f'data-overridden="{refund_request.pk}"' in page
    assert "abandoned (service_unreachable)" in page
    with pytest.raises(ApprovalError) as refused:
        services.retry_abandoned_call(approval_request=refund_request, actor_user=other_manager)
    assert refused.value.code == "not_retryable"


def test_a_refund_the_portal_failed_is_settled_by_a_later_event(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"conflict_next": ["not_refundable"]})
    assert services.perform_outbound_call(call_id=call.pk).status == CallStatus.REFUSED
    refund_id = uuid.uuid4()
    reference = str(refund_request.pk)

    def event(status: str) -> int:
        """The intake settles inside its batch transaction."""
        with transaction.atomic():
            return services.settle_refunds_from_events(
                refunds=[services.RefundObserved(refund_id, reference, status, "")]
            )

    assert event("pending") == 1
    refund_request.refresh_from_db()
    assert (refund_request.status, refund_request.overridden_belief) == (
        RequestStatus.SUBMITTED,
        "failed (not_refundable)",
    )
    assert event("succeeded") == 1
    refund_request.refresh_from_db()
    assert (refund_request.status, refund_request.refund_id) == (
        RequestStatus.SUCCEEDED,
        refund_id,
    )
    # The events said it, in order; repeating the last one changes nothing.
    assert event("succeeded") == 0


def test_an_abandoned_freeze_is_settled_by_account_updated_but_a_refused_one_is_not(
    agent, manager, standin, settings
):
    settings.GO_API_MAX_ATTEMPTS = 1
    abandoned_remote = standin.services.create_account()
    refused_remote = standin.services.create_account()
    for remote in (abandoned_remote, refused_remote):
        make_account(account_id=remote.account_id, status="active")
    requests = {}
    for name, remote in (("abandoned", abandoned_remote), ("refused", refused_remote)):
        freeze = services.request_account_freeze(
            requester=agent, account_id=remote.account_id, action="freeze", reason="fraud"
        )
        requests[name] = services.approve_request(
            approval_request=freeze, approver=manager, comment="ok", authenticated_at=timezone.now()
        )
    standin.services.faults.update({"fail_next": [503], "apply_on_failure": True})
    send_until_settled(OutboundCall.objects.get(freeze_request=requests["abandoned"]).pk)
    standin.services.faults.update({"apply_on_failure": False, "conflict_next": ["invalid_state"]})
    send_until_settled(OutboundCall.objects.get(freeze_request=requests["refused"]).pk)

    with transaction.atomic():
        settled = services.settle_freezes_from_events(
            accounts=[
                (uuid.UUID(abandoned_remote.account_id), "frozen"),
                (uuid.UUID(refused_remote.account_id), "frozen"),  # frozen by someone else
            ]
        )
    assert settled == 1
    abandoned = FreezeRequest.objects.get(pk=requests["abandoned"].pk)
    refused = FreezeRequest.objects.get(pk=requests["refused"].pk)
    assert (abandoned.status, abandoned.overridden_belief) == (
        RequestStatus.SUCCEEDED,
        "abandoned (service_unreachable)",
    )
    assert (refused.status, refused.failure_code) == (RequestStatus.FAILED, "invalid_state")


# --- manual retry stays safe ------------------------------------------------------------------


def test_a_retry_while_a_send_is_in_flight_is_refused_and_a_retry_later_reuses_the_key(
    agent, manager, other_manager, standin, settings
):
    settings.GO_API_TIMEOUT = 3.0
    settings.GO_API_MAX_ATTEMPTS = 1
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"latency_ms": 1_000, "fail_next": [503]})

    def send() -> None:
        try:
            services.perform_outbound_call(call_id=call.pk)
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: OutboundCall.objects.filter(pk=call.pk, status=CallStatus.SENDING).exists())
    with pytest.raises(ApprovalError) as refused:
        services.retry_abandoned_call(approval_request=refund_request, actor_user=other_manager)
    assert refused.value.code == "in_flight"
    assert "being sent to the service right now" in refused.value.message
    sender.join()
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.ABANDONED, 1)

    standin.services.faults.update({"latency_ms": 0})
    services.retry_abandoned_call(approval_request=refund_request, actor_user=other_manager)
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert call.attempts == 2  # numbering goes on: attempt 1 is never reused
    assert [e.params["idempotency_key"] for e in submit_entries(refund_request)] == [
        call.idempotency_key
    ] * 2
    assert standin.services.effect_count(call.idempotency_key) == 1
