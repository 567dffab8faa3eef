"""Approved requests reach the Go stand-in over real HTTP: retries with one key, refusals, events closing the loop."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from apps.approvals import services
from apps.approvals.models import CallStatus, OutboundCall, RequestStatus
from apps.audit.models import AuditEntry
from apps.payments.models import Payment
from tests.approvals.conftest import approved_refund, mirrored_payment, send_until_settled
from tests.conftest import ARTIFACTS
from tests.events.conftest import RunningIntake, start_worker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def test_an_approved_refund_is_sent_once_and_the_request_is_submitted(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED
    assert refund_request.refund_id is not None
    assert standin.services.effect_count(call.idempotency_key) == 1
    stored = standin.services.refunds[str(refund_request.refund_id)]
    assert (stored.amount_cents, stored.reference) == (1_000, str(refund_request.pk))


def test_timeouts_and_5xx_then_success_make_exactly_one_refund(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    # The first answer is lost after the refund was made; then the service is down twice.
    standin.services.faults.update(
        {
            "timeout_next": 1,
            "timeout_seconds": 1.5,
            "apply_on_failure": True,
            "fail_next": [503, 500],
        }
    )
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert call.attempts >= 2
    assert standin.services.effect_count(call.idempotency_key) == 1
    assert (
        len([r for r in standin.services.refunds.values() if r.reference == str(refund_request.pk)])
        == 1
    )


def test_a_409_fails_the_request_with_the_services_code(agent, manager, standin):
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    standin.services.faults.update({"conflict_next": ["not_refundable"]})
    assert (
        send_until_settled(OutboundCall.objects.get(refund_request=refund_request).pk)
        == CallStatus.REFUSED
    )
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.FAILED
    assert refund_request.failure_code == "not_refundable"
    assert "forced conflict" in refund_request.failure_message


def test_an_unreachable_service_is_given_up_on_and_a_manager_can_retry_with_the_same_key(
    agent, manager, other_manager, standin, settings
):
    settings.GO_API_MAX_ATTEMPTS = 2
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    refund_request = approved_refund(agent, manager, remote.payment_id)
    call = OutboundCall.objects.get(refund_request=refund_request)
    standin.services.faults.update({"fail_next": [503, 503]})
    assert send_until_settled(call.pk) == CallStatus.ABANDONED
    refund_request.refresh_from_db()
    assert refund_request.failure_code == "service_unreachable"
    services.retry_abandoned_call(approval_request=refund_request, actor_user=other_manager)
    assert send_until_settled(call.pk) == CallStatus.ACCEPTED
    assert standin.services.effect_count(call.idempotency_key) == 1


def test_the_refund_events_close_the_request(agent, manager, standin, bus):
    intake = RunningIntake(bus.config()).start()
    try:
        account = standin.services.create_account(currency="JPY")
        remote = standin.services.create_payment(
            account_id=account.account_id, currency="JPY", amount_cents=12_000
        )
        wait_until(lambda: Payment.objects.filter(pk=remote.payment_id, status="settled").exists())
        refund_request = approved_refund(agent, manager, uuid.UUID(remote.payment_id), amount=4_000)
        send_until_settled(OutboundCall.objects.get(refund_request=refund_request).pk)

        def closed() -> bool:
            refund_request.refresh_from_db()
            return refund_request.status == RequestStatus.SUCCEEDED

        wait_until(closed, timeout=15)
        payment = Payment.objects.get(pk=remote.payment_id)
        assert (payment.refunded_cents, payment.status) == (4_000, "partially_refunded")
    finally:
        intake.stop()


def test_a_failed_refund_event_fails_the_request_with_the_reason(agent, manager, standin, bus):
    intake = RunningIntake(bus.config()).start()
    try:
        remote = standin.services.create_payment(currency="EUR", amount_cents=3_000)
        wait_until(lambda: Payment.objects.filter(pk=remote.payment_id, status="settled").exists())
        standin.services.faults.update(
            {"refund_outcome": "failed", "refund_failure_reason": "card expired"}
        )
        refund_request = approved_refund(agent, manager, uuid.UUID(remote.payment_id))
        send_until_settled(OutboundCall.objects.get(refund_request=refund_request).pk)

        def failed() -> bool:
            refund_request.refresh_from_db()
            return refund_request.status == RequestStatus.FAILED

        wait_until(failed, timeout=15)
        assert refund_request.failure_message == "card expired"
    finally:
        intake.stop()


def test_two_workers_the_sweep_and_a_killed_worker_still_send_one_at_a_time(
    agent, manager, standin, bus
):
    """Real workers: the one sending a call whose 202 trickles in is SIGKILLed mid-body.

    Its task comes back to the other worker, the sweep keeps looking: nobody
    sends again until the lease has run out, and then exactly one does.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    run = uuid.uuid4().hex[:6]
    logs = [ARTIFACTS / f"outbox-worker-{run}-{n}.log" for n in (1, 2)]
    env = {
        "PAYMENTS_API_URL": standin.url,
        "PAYMENTS_API_TOKEN": "payments-token",
        "GO_API_TIMEOUT": "6",
        "GO_API_CONNECT_TIMEOUT": "1",
        "GO_API_LEASE_MARGIN_SECONDS": "1",
        "OUTBOX_SWEEP_SECONDS": "1",
        "EVENTS_INTAKE_ENABLED": "false",
    }
    # Without a total deadline this body would keep the first call open for 20 s.
    standin.services.faults.update({"trickle_next": 1, "trickle_seconds": 20})
    remote = mirrored_payment(standin, currency="EUR", amount_cents=5_000)
    workers = [
        start_worker(bus, log_path=logs[0], extra_env=env, beat=True),  # with the sweep
        start_worker(bus, log_path=logs[1], extra_env=env),
    ]
    try:
        refund_request = approved_refund(agent, manager, remote.payment_id)  # commit → task queued
        call = OutboundCall.objects.get(refund_request=refund_request)
        wait_until(
            lambda: standin.services.key_traffic(call.idempotency_key).calls == 1, timeout=60
        )
        time.sleep(0.5)  # the body is trickling in
        claimed = f"outbound call {call.pk}: attempt 1 sending"
        wait_until(lambda: any(claimed in log.read_text() for log in logs))
        sender = next(n for n in (0, 1) if claimed in logs[n].read_text())
        os.killpg(workers[sender].pid, signal.SIGKILL)
        workers[sender].wait(10)
        if sender == 0:  # the sweep died with it: a new worker brings it back
            workers[0] = start_worker(bus, log_path=logs[0], extra_env=env, beat=True)
        wait_until(
            lambda: OutboundCall.objects.filter(pk=call.pk, status=CallStatus.ACCEPTED).exists(),
            timeout=60,
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUBMITTED
    traffic = standin.services.key_traffic(call.idempotency_key)
    assert traffic.max_in_flight == 1
    assert standin.services.effect_count(call.idempotency_key) == 1
    call.refresh_from_db()
    assert call.attempts == traffic.calls == 2
    entries = AuditEntry.objects.filter(
        target_id=str(refund_request.pk), action="refund.submit"
    ).order_by("sequence")
    assert [(e.params["attempt"], e.api_error_code) for e in entries] == [
        (1, "lease_expired"),
        (2, ""),
    ]
