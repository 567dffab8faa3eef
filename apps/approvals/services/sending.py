"""Sending: the outbox row of an approved request is sent to the Go API, attempt by attempt.

The HTTP call happens outside any transaction, with one idempotency key for every attempt;
each attempt is an action-log entry.

Never two sends in flight for one call:

- **One deadline.** A send ends by ``GO_API_TIMEOUT`` after it was claimed, whole body
  included (``clients.GoServiceClient.post``).
- **A lease longer than any send.** Claiming is one compare-and-set ``UPDATE``: a pending
  call that is due, or a sending call whose lease has run out, becomes ``sending`` with
  ``attempts + 1`` and ``claimed_until = now + connect + total + margin``. A second worker,
  a redelivered task or the sweep finds the row taken and leaves it; only a worker that
  died (or stalled past its lease) loses it.
- **Fenced answers.** An answer is recorded only if the row is still ``sending`` under the
  same attempt number; an attempt that lost its lease records what it heard as a late
  answer and changes nothing.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
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
from apps.approvals.services.records import (
    WORKER,
    _action,
    _decision_field,
    _locked,
    _record_on,
    _refuse_on,
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


def _send_lease() -> timedelta:
    """How long a claim holds a call: longer than any send can last (connect + deadline + margin)."""
    return timedelta(
        seconds=settings.GO_API_CONNECT_TIMEOUT
        + settings.GO_API_TIMEOUT
        + settings.GO_API_LEASE_MARGIN_SECONDS
    )


def _send(call: OutboundCall, *, deadline: float) -> clients.ApiAnswer:
    if call.operation == OutboundCall.Operation.CREATE_REFUND:
        client, path = clients.payments_client(), f"/v1/payments/{call.path_id}/refunds"
    elif call.operation == OutboundCall.Operation.FREEZE_ACCOUNT:
        client, path = clients.accounts_client(), f"/v1/accounts/{call.path_id}/freeze"
    else:
        client, path = clients.accounts_client(), f"/v1/accounts/{call.path_id}/unfreeze"
    return client.post(
        path,
        json=call.body,
        idempotency_key=call.idempotency_key,
        request_id=call.request_id,
        deadline=deadline,
    )


def _claim(call_id: int, now: datetime) -> tuple[OutboundCall | None, bool]:
    """Take the call for one attempt, if nobody holds it; ``(call, took_over_a_lost_attempt)``.

    Compare-and-set: the ``UPDATE`` re-checks its condition on the row as it is
    after any concurrent claim commits, so of two claimants exactly one wins.
    The lease is set and compared on the database's clock, so workers on hosts
    whose clocks differ still agree on when it runs out.
    """
    claim = {
        "status": CallStatus.SENDING,
        "attempts": F("attempts") + 1,
        "last_attempt_at": now,
        "claimed_until": Now() + _send_lease(),
    }
    calls = OutboundCall.objects.filter(pk=call_id)
    if calls.filter(status=CallStatus.PENDING, next_attempt_at__lte=now).update(**claim):
        return calls.get(), False
    if calls.filter(status=CallStatus.SENDING, claimed_until__lt=Now()).update(**claim):
        return calls.get(), True
    return None, False


def perform_outbound_call(*, call_id: int) -> CallOutcome:
    """Send one queued Go call and record its outcome (used by the Celery task and the sweep).

    The HTTP call happens outside any transaction (no lock held while
    waiting on the network); the same idempotency key is sent on every
    attempt, so a call repeated after a crash or a timeout has one effect.
    A call someone else holds, or that is not due yet, is left alone.
    """
    # The deadline is taken before the claim, so the send ends before its lease does.
    deadline = time.monotonic() + settings.GO_API_TIMEOUT
    now = timezone.now()
    with transaction.atomic():
        call, took_over = _claim(call_id, now)
        if call is None:
            current = OutboundCall.objects.filter(pk=call_id).first()
            if current is None:
                return CallOutcome(status="missing")
            if current.status == CallStatus.PENDING:
                return CallOutcome(status="not_due")
            if current.status == CallStatus.SENDING:
                return CallOutcome(status="busy")
            return CallOutcome(status=current.status)
        if took_over:
            _record_lost_attempt(call)
    logger.info(
        "outbound call %s: attempt %s sending, lease until %s",
        call.pk,
        call.attempts,
        call.claimed_until.isoformat(),
    )

    token = bind_request_id(call.request_id)
    try:
        try:
            answer = _send(call, deadline=deadline)
        except clients.FinalApiError as error:
            return _record_refusal(call_id, call.attempts, error)
        except clients.TransientApiError as error:
            return _record_transient_failure(call_id, call.attempts, error)
        return _record_acceptance(call_id, call.attempts, answer)
    finally:
        reset_request_id(token)


def _record_attempt(
    approval_request: ApprovalRequest,
    call: OutboundCall,
    attempt: int,
    *,
    outcome: str,
    status: int | None = None,
    error: clients.GoApiError | None = None,
    reason: str = "",
    **params: Any,
) -> None:
    """One action-log entry per attempt (``*.submit``), numbered with the attempt."""
    _record_on(
        approval_request,
        action=_action(approval_request, "submit"),
        actor=WORKER,
        outcome=outcome,
        params={"attempt": attempt, "idempotency_key": call.idempotency_key, **params},
        api_status=error.status if error else status,
        api_error_code=error.code if error else "",
        api_error_message=error.message if error else "",
        reason=reason,
    )


def _record_lost_attempt(call: OutboundCall) -> None:
    """The attempt before this one never reported: its worker died or stalled past the lease."""
    lost = call.attempts - 1
    _record_attempt(
        _request_of(call),
        call,
        lost,
        outcome=Outcome.FAILED,
        error=clients.TransientApiError(
            status=None,
            code="lease_expired",
            message=f"Attempt {lost} did not report before its lease ran out (worker stopped); "
            f"attempt {call.attempts} sends again with the same key.",
        ),
        transient=True,
        lost=True,
    )


def _request_of(call: OutboundCall) -> ApprovalRequest:
    model = RefundRequest if call.refund_request_id else FreezeRequest
    return model.objects.select_for_update().get(
        pk=call.refund_request_id or call.freeze_request_id
    )


def _still_claimed(call_id: int, attempt: int) -> tuple[OutboundCall, bool]:
    """The call, locked, and whether this attempt still holds it (the fence)."""
    call = OutboundCall.objects.select_for_update().get(pk=call_id)
    return call, call.status == CallStatus.SENDING and call.attempts == attempt


def _record_late_answer(
    call: OutboundCall,
    attempt: int,
    *,
    answer: clients.ApiAnswer | None = None,
    error: clients.GoApiError | None = None,
) -> CallOutcome:
    """An attempt answered after losing its claim: keep what it heard, overwrite nothing."""
    heard = "accepted" if error is None else f"{error.code}"
    _record_attempt(
        _request_of(call),
        call,
        attempt,
        outcome=Outcome.SUCCESS if error is None else Outcome.FAILED,
        status=answer.status if answer else None,
        error=error,
        reason=f"Answer of attempt {attempt} ({heard}) arrived after its lease ran out; "
        "a newer attempt owns the call, so nothing was changed.",
        late=True,
        current_attempt=call.attempts,
        call_status=call.status,
    )
    return CallOutcome(status="superseded")


def _record_acceptance(call_id: int, attempt: int, answer: clients.ApiAnswer) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call, holds = _still_claimed(call_id, attempt)
        if not holds:
            return _record_late_answer(call, attempt, answer=answer)
        call.status = CallStatus.ACCEPTED
        call.claimed_until = None
        call.last_http_status = answer.status
        call.response = answer.body
        call.last_error = ""
        call.save(
            update_fields=["status", "claimed_until", "last_http_status", "response", "last_error"]
        )
        approval_request = _request_of(call)
        fields = ["submitted_at"]
        approval_request.submitted_at = approval_request.submitted_at or now
        # The event may already have settled the request; never move it backwards.
        if approval_request.status == RequestStatus.APPROVED:
            approval_request.status = RequestStatus.SUBMITTED
            approval_request.failure_code = approval_request.failure_message = ""
            fields += ["status", "failure_code", "failure_message"]
        if isinstance(approval_request, RefundRequest) and answer.body.get("refund_id"):
            try:
                approval_request.refund_id = uuid.UUID(str(answer.body["refund_id"]))
                fields.append("refund_id")
            except ValueError:
                logger.warning(
                    "payments service answered an invalid refund_id for call %s", call_id
                )
        approval_request.save(update_fields=fields)
        _record_attempt(
            approval_request,
            call,
            attempt,
            outcome=Outcome.SUCCESS,
            status=answer.status,
            operation=call.operation,
            response=answer.body,
        )
    return CallOutcome(status=CallStatus.ACCEPTED)


def _record_refusal(call_id: int, attempt: int, error: clients.FinalApiError) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call, holds = _still_claimed(call_id, attempt)
        if not holds:
            return _record_late_answer(call, attempt, error=error)
        call.status = CallStatus.REFUSED
        call.claimed_until = None
        call.last_http_status = error.status
        call.last_error = f"{error.code}: {error.message}"
        call.save(update_fields=["status", "claimed_until", "last_http_status", "last_error"])
        approval_request = _request_of(call)
        # Only a request the service has not confirmed yet fails: once a 202 or an event
        # said it was received, a refusal cannot be the truth about it.
        if approval_request.status == RequestStatus.APPROVED:
            approval_request.status = RequestStatus.FAILED
            approval_request.failure_code = error.code
            approval_request.failure_message = error.message
            approval_request.completed_at = now
            approval_request.save(
                update_fields=["status", "failure_code", "failure_message", "completed_at"]
            )
        _record_attempt(
            approval_request, call, attempt, outcome=Outcome.FAILED, error=error, final=True
        )
    return CallOutcome(status=CallStatus.REFUSED)


def _record_transient_failure(
    call_id: int, attempt: int, error: clients.TransientApiError
) -> CallOutcome:
    now = timezone.now()
    with transaction.atomic():
        call, holds = _still_claimed(call_id, attempt)
        if not holds:
            return _record_late_answer(call, attempt, error=error)
        call.last_http_status = error.status
        call.last_error = f"{error.code}: {error.message}"
        gave_up = call.attempts - call.attempts_before_retry >= settings.GO_API_MAX_ATTEMPTS
        retry_in = None if gave_up else _backoff_seconds(call.attempts - call.attempts_before_retry)
        call.status = CallStatus.ABANDONED if gave_up else CallStatus.PENDING
        call.claimed_until = None
        call.next_attempt_at = now + timedelta(seconds=retry_in or 0)
        call.save(
            update_fields=[
                "status",
                "claimed_until",
                "last_http_status",
                "last_error",
                "next_attempt_at",
            ]
        )
        approval_request = _request_of(call)
        if gave_up and approval_request.status == RequestStatus.APPROVED:
            approval_request.failure_code = "service_unreachable"
            approval_request.failure_message = (
                f"No answer after {call.attempts} attempts ({error.code}). "
                "A manager can retry; the same idempotency key makes that safe."
            )
            approval_request.save(update_fields=["failure_code", "failure_message"])
        _record_attempt(
            approval_request,
            call,
            attempt,
            outcome=Outcome.FAILED,
            error=error,
            transient=True,
            gave_up=gave_up,
            retry_in_seconds=round(retry_in, 2) if retry_in else None,
        )
    return CallOutcome(status=call.status, retry_in=retry_in)


def _retry_problem(
    locked: ApprovalRequest, call: OutboundCall | None, actor_user: Any
) -> tuple[str, str] | None:
    if not actor_user.has_role(Role.MANAGER):
        return "role", "Only a manager can send a call again."
    if call is None:
        return "not_retryable", "This request has no call to the service yet."
    if call.status == CallStatus.SENDING:
        return (
            "in_flight",
            f"Attempt {call.attempts} is being sent to the service right now; wait for its "
            "answer (this page updates) — sending again now could not make it safer or faster.",
        )
    if call.status == CallStatus.PENDING:
        return (
            "already_queued",
            f"Attempt {call.attempts + 1} is already queued; the portal sends it on its own.",
        )
    if call.status != CallStatus.ABANDONED or locked.status != RequestStatus.APPROVED:
        return (
            "not_retryable",
            f"Only a call the portal gave up on can be sent again; this request is "
            f"{locked.get_status_display().lower()} and its call "
            f"{call.get_status_display().lower()}.",
        )
    return None


def retry_abandoned_call(
    *, approval_request: ApprovalRequest, actor_user: Any, request: HttpRequest | None = None
) -> OutboundCall:
    """A manager sends an abandoned call again — with the same idempotency key.

    Refused while a send is in flight or queued, and once the service's events
    have settled the request. Attempt numbers go on from where they were; the
    retry gives the call a fresh budget of ``GO_API_MAX_ATTEMPTS``.
    """
    from apps.approvals.tasks import send_outbound_call

    actor = Actor.for_user(actor_user)
    action = _action(approval_request, "retry")
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(approval_request)
        call = (
            OutboundCall.objects.select_for_update()
            .filter(**{_decision_field(locked): locked})
            .first()
        )
        problem = _retry_problem(locked, call, actor_user)
        if problem is None:
            call.status = CallStatus.PENDING
            call.attempts_before_retry = call.attempts
            call.next_attempt_at = now
            call.save(update_fields=["status", "attempts_before_retry", "next_attempt_at"])
            locked.failure_code = ""
            locked.failure_message = ""
            locked.save(update_fields=["failure_code", "failure_message"])
            _record_on(
                locked,
                action=action,
                actor=actor,
                params={"idempotency_key": call.idempotency_key, "attempts_so_far": call.attempts},
                request=request,
            )
            transaction.on_commit(lambda: send_outbound_call.delay(call.pk))
    if problem is not None:
        code, message = problem
        _refuse_on(
            approval_request,
            DecisionNotAllowed,
            message,
            code=code,
            action=action,
            actor=actor,
            request=request,
        )
    return call
