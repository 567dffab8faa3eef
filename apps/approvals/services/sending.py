"""Sending: the outbox row of an approved request is sent to the Go API, attempt by attempt.

The HTTP call happens outside any transaction, with one idempotency key for every attempt;
each attempt is an action-log entry.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.approvals import clients
from apps.approvals.errors import DecisionNotAllowed
from apps.approvals.models import (
    ApprovalRequest,
    CallStatus,
    FreezeAction,
    FreezeRequest,
    OutboundCall,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.selectors import stale_sending_cutoff
from apps.approvals.services.records import (
    WORKER,
    _action,
    _decision_field,
    _locked,
    _record_on,
    _refuse,
    _target_type,
)
from apps.audit.services import Actor, Outcome
from apps.identity.roles import Role
from portal.request_id import bind_request_id, current_request_id, new_request_id, reset_request_id

logger = logging.getLogger(__name__)


def _queue_call(approval_request: ApprovalRequest, now: datetime) -> OutboundCall:
    """Write the Go call in this transaction; send it after commit."""
    from apps.approvals.tasks import send_outbound_call

    if isinstance(approval_request, RefundRequest):
        operation = OutboundCall.Operation.CREATE_REFUND
        path_id = approval_request.payment_id
        body = {
            "amount_cents": approval_request.amount_cents,
            "currency": approval_request.currency,
            "reason": approval_request.reason,
            "reference": approval_request.reference,
        }
    else:
        operation = (
            OutboundCall.Operation.FREEZE_ACCOUNT
            if approval_request.action == FreezeAction.FREEZE
            else OutboundCall.Operation.UNFREEZE_ACCOUNT
        )
        path_id = approval_request.account_id
        body = {"reason": approval_request.reason, "reference": approval_request.reference}
    call = OutboundCall.objects.create(
        operation=operation,
        **{_decision_field(approval_request): approval_request},
        idempotency_key=f"portal:{operation}:{approval_request.pk}",
        path_id=path_id,
        body=body,
        next_attempt_at=now,
        request_id=current_request_id() or new_request_id(),
        created_at=now,
    )
    transaction.on_commit(lambda: send_outbound_call.delay(call.pk))
    return call


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one attempt; ``retry_in`` set when the task should try again."""

    status: str
    retry_in: float | None = None


def _backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, capped."""
    base = settings.GO_API_RETRY_BASE_SECONDS
    cap = settings.GO_API_RETRY_MAX_SECONDS
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** max(attempt - 1, 0))


def _send(call: OutboundCall) -> clients.ApiAnswer:
    if call.operation == OutboundCall.Operation.CREATE_REFUND:
        client, path = clients.payments_client(), f"/v1/payments/{call.path_id}/refunds"
    elif call.operation == OutboundCall.Operation.FREEZE_ACCOUNT:
        client, path = clients.accounts_client(), f"/v1/accounts/{call.path_id}/freeze"
    else:
        client, path = clients.accounts_client(), f"/v1/accounts/{call.path_id}/unfreeze"
    return client.post(
        path, json=call.body, idempotency_key=call.idempotency_key, request_id=call.request_id
    )


def perform_outbound_call(*, call_id: int) -> CallOutcome:
    """Send one queued Go call and record its outcome (used by the Celery task).

    The HTTP call happens outside any transaction (no lock held while
    waiting on the network); the same idempotency key is sent on every
    attempt, so a call repeated after a crash or a timeout has one effect.
    """
    now = timezone.now()
    with transaction.atomic():
        call = OutboundCall.objects.select_for_update(skip_locked=True).filter(pk=call_id).first()
        if call is None:
            return CallOutcome(status="busy")
        if call.status in (CallStatus.ACCEPTED, CallStatus.REFUSED, CallStatus.ABANDONED):
            return CallOutcome(status=call.status)
        if call.status == CallStatus.SENDING and call.last_attempt_at > stale_sending_cutoff(now):
            return CallOutcome(status="busy")
        call.status = CallStatus.SENDING
        call.attempts += 1
        call.last_attempt_at = now
        call.save(update_fields=["status", "attempts", "last_attempt_at"])

    token = bind_request_id(call.request_id)
    try:
        try:
            answer = _send(call)
        except clients.FinalApiError as error:
            return _record_refusal(call_id, error)
        except clients.TransientApiError as error:
            return _record_transient_failure(call_id, error)
        return _record_acceptance(call_id, answer)
    finally:
        reset_request_id(token)


def _request_of(call: OutboundCall) -> ApprovalRequest:
    model = RefundRequest if call.refund_request_id else FreezeRequest
    return model.objects.select_for_update().get(
        pk=call.refund_request_id or call.freeze_request_id
    )


def _record_acceptance(call_id: int, answer: clients.ApiAnswer) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call = OutboundCall.objects.select_for_update().get(pk=call_id)
        call.status = CallStatus.ACCEPTED
        call.last_http_status = answer.status
        call.response = answer.body
        call.last_error = ""
        call.save(update_fields=["status", "last_http_status", "response", "last_error"])
        approval_request = _request_of(call)
        fields = ["submitted_at"]
        approval_request.submitted_at = approval_request.submitted_at or now
        # The event may already have settled the request; never move it backwards.
        if approval_request.status == RequestStatus.APPROVED:
            approval_request.status = RequestStatus.SUBMITTED
            fields.append("status")
        if isinstance(approval_request, RefundRequest) and answer.body.get("refund_id"):
            try:
                approval_request.refund_id = uuid.UUID(str(answer.body["refund_id"]))
                fields.append("refund_id")
            except ValueError:
                logger.warning(
                    "payments service answered an invalid refund_id for call %s", call_id
                )
        approval_request.save(update_fields=fields)
        _record_on(
            approval_request,
            action=_action(approval_request, "submit"),
            actor=WORKER,
            outcome=Outcome.SUCCESS,
            params={
                "attempt": call.attempts,
                "idempotency_key": call.idempotency_key,
                "operation": call.operation,
                "response": answer.body,
            },
            api_status=answer.status,
        )
    return CallOutcome(status=CallStatus.ACCEPTED)


def _record_refusal(call_id: int, error: clients.FinalApiError) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call = OutboundCall.objects.select_for_update().get(pk=call_id)
        call.status = CallStatus.REFUSED
        call.last_http_status = error.status
        call.last_error = f"{error.code}: {error.message}"
        call.save(update_fields=["status", "last_http_status", "last_error"])
        approval_request = _request_of(call)
        if approval_request.status in (RequestStatus.APPROVED, RequestStatus.SUBMITTED):
            approval_request.status = RequestStatus.FAILED
            approval_request.failure_code = error.code
            approval_request.failure_message = error.message
            approval_request.completed_at = now
            approval_request.save(
                update_fields=["status", "failure_code", "failure_message", "completed_at"]
            )
        _record_on(
            approval_request,
            action=_action(approval_request, "submit"),
            actor=WORKER,
            outcome=Outcome.FAILED,
            params={
                "attempt": call.attempts,
                "idempotency_key": call.idempotency_key,
                "final": True,
            },
            api_status=error.status,
            api_error_code=error.code,
            api_error_message=error.message,
        )
    return CallOutcome(status=CallStatus.REFUSED)


def _record_transient_failure(call_id: int, error: clients.TransientApiError) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call = OutboundCall.objects.select_for_update().get(pk=call_id)
        call.last_http_status = error.status
        call.last_error = f"{error.code}: {error.message}"
        gave_up = call.attempts >= settings.GO_API_MAX_ATTEMPTS
        retry_in = None if gave_up else _backoff_seconds(call.attempts)
        call.status = CallStatus.ABANDONED if gave_up else CallStatus.PENDING
        call.next_attempt_at = now + timedelta(seconds=retry_in or 0)
        call.save(update_fields=["status", "last_http_status", "last_error", "next_attempt_at"])
        approval_request = _request_of(call)
        if gave_up:
            approval_request.failure_code = "service_unreachable"
            approval_request.failure_message = (
                f"No answer after {call.attempts} attempts ({error.code}). "
                "A manager can retry; the same idempotency key makes that safe."
            )
            approval_request.save(update_fields=["failure_code", "failure_message"])
        _record_on(
            approval_request,
            action=_action(approval_request, "submit"),
            actor=WORKER,
            outcome=Outcome.FAILED,
            params={
                "attempt": call.attempts,
                "idempotency_key": call.idempotency_key,
                "transient": True,
                "gave_up": gave_up,
                "retry_in_seconds": round(retry_in, 2) if retry_in else None,
            },
            api_status=error.status,
            api_error_code=error.code,
            api_error_message=error.message,
        )
    return CallOutcome(status=call.status, retry_in=retry_in)


def retry_abandoned_call(
    *, approval_request: ApprovalRequest, actor_user: Any, request: HttpRequest | None = None
) -> OutboundCall:
    """A manager sends an abandoned call again — with the same idempotency key."""
    from apps.approvals.tasks import send_outbound_call

    actor = Actor.for_user(actor_user)
    action = _action(approval_request, "retry")
    with transaction.atomic():
        locked = _locked(approval_request)
        call = (
            OutboundCall.objects.select_for_update()
            .filter(**{_decision_field(locked): locked})
            .first()
        )
        allowed = actor_user.has_role(Role.MANAGER) and call and call.status == CallStatus.ABANDONED
        if allowed:
            call.status = CallStatus.PENDING
            call.attempts = 0
            call.next_attempt_at = timezone.now()
            call.save(update_fields=["status", "attempts", "next_attempt_at"])
            locked.failure_code = ""
            locked.failure_message = ""
            locked.save(update_fields=["failure_code", "failure_message"])
            _record_on(
                locked,
                action=action,
                actor=actor,
                params={"idempotency_key": call.idempotency_key},
                request=request,
            )
            transaction.on_commit(lambda: send_outbound_call.delay(call.pk))
    if not allowed:
        _refuse(
            DecisionNotAllowed,
            "Only a manager can retry, and only a call the portal gave up on.",
            code="not_retryable",
            action=action,
            actor=actor,
            target_type=_target_type(approval_request),
            target_id=str(approval_request.pk),
            request=request,
        )
    return call
