"""The only write paths for refund and freeze requests.

Support agents and managers *request*; only managers *decide*, never on
their own request; above the configured thresholds two distinct managers
must approve. Every step records its action-log entry in the same
transaction as the change. An approval writes an ``OutboundCall`` (outbox)
in that transaction too; the call to the Go API happens after commit in a
Celery task (``apps.approvals.tasks``), with one idempotency key for every
retry. The outcome comes only from the Go service: its answer (accepted,
refused) and then its events (``settle_*_from_events``).

Refusals (self-approval, an auditor trying to request, an amount above what
is refundable) are recorded as ``rejected`` entries in a transaction of
their own and then raised as :mod:`apps.approvals.errors`.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import Account, AccountStatus
from apps.approvals import clients
from apps.approvals.digests import (
    account_state_digest,
    freeze_payload_digest,
    payment_state_digest,
    refund_payload_digest,
)
from apps.approvals.errors import (
    ApprovalError,
    DecisionNotAllowed,
    ReauthenticationRequired,
    RequestChanged,
    RequestNotAllowed,
)
from apps.approvals.models import (
    OPEN_STATUSES,
    ApprovalRequest,
    CallStatus,
    Decision,
    DecisionKind,
    FreezeAction,
    FreezeRequest,
    OutboundCall,
    RefundCategory,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.notifications import notify_managers_on_commit
from apps.approvals.rules import ApprovalRules, current_rules
from apps.approvals.selectors import refundable_now, stale_sending_cutoff
from apps.audit.services import Actor, Outcome, record
from apps.identity.roles import WRITER_ROLES, Role
from apps.payments.currencies import to_major_units
from apps.payments.models import Payment, PaymentStatus
from portal.request_id import bind_request_id, current_request_id, new_request_id, reset_request_id

logger = logging.getLogger(__name__)

REFUNDABLE_PAYMENT_STATUSES = (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED)
MAX_REASON_LENGTH = 2000
WORKER = Actor.system("portal-worker")


# --- helpers ------------------------------------------------------------------


def _refuse(
    error_class: type[ApprovalError],
    message: str,
    *,
    code: str,
    action: str,
    actor: Actor,
    target_type: str,
    target_id: str,
    request: HttpRequest | None,
    params: dict[str, Any] | None = None,
) -> NoReturn:
    """Record the refusal in its own transaction, then raise it."""
    with transaction.atomic():
        record(
            action=action,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            outcome=Outcome.REJECTED,
            params={**(params or {}), "code": code},
            reason=message,
            request=request,
        )
    raise error_class(message, code=code)


def _clean_reason(reason: str) -> str:
    return " ".join((reason or "").split())[:MAX_REASON_LENGTH]


def _lock_target(kind: str, target_id: uuid.UUID) -> None:
    """Serialise requests on one payment or account (concurrent requests cannot overdraw)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{kind}:{target_id}"]
        )


def _target_type(approval_request: ApprovalRequest) -> str:
    return "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"


def _about(approval_request: ApprovalRequest) -> dict[str, str]:
    """What a request is about, in every entry on it: a search for the payment finds them all."""
    if isinstance(approval_request, RefundRequest):
        return {"payment_id": str(approval_request.payment_id)}
    return {"account_id": str(approval_request.account_id)}


def _record_on(approval_request: ApprovalRequest, **kwargs: Any) -> None:
    kwargs["params"] = {**_about(approval_request), **(kwargs.get("params") or {})}
    record(target_type=_target_type(approval_request), target_id=str(approval_request.pk), **kwargs)


def _action(approval_request: ApprovalRequest, verb: str) -> str:
    if isinstance(approval_request, RefundRequest):
        return f"refund.{verb}"
    return f"account.{approval_request.action}.{verb}"


def _locked(approval_request: ApprovalRequest) -> ApprovalRequest:
    """Re-read the request under a row lock: every decision path locks alike."""
    return type(approval_request).objects.select_for_update().get(pk=approval_request.pk)


# --- requesting ------------------------------------------------------------------


def request_refund(
    *,
    requester: Any,
    payment_id: uuid.UUID,
    amount_cents: int,
    category: str,
    reason: str,
    request: HttpRequest | None = None,
) -> RefundRequest:
    """An agent or manager asks for a full or partial refund of a payment."""
    actor = Actor.for_user(requester)
    reason = _clean_reason(reason)
    refusal = {
        "action": "refund.request",
        "actor": actor,
        "target_type": "payment",
        "target_id": str(payment_id),
        "request": request,
        "params": {"amount_cents": amount_cents, "category": category},
    }
    if not requester.has_role(*WRITER_ROLES):
        _refuse(
            RequestNotAllowed,
            "Only support agents and managers can request refunds.",
            code="role",
            **refusal,
        )
    if not reason:
        _refuse(
            RequestNotAllowed, "Give a reason for the refund.", code="reason_required", **refusal
        )
    if category not in RefundCategory.values:
        _refuse(RequestNotAllowed, "Choose a category from the list.", code="category", **refusal)
    if amount_cents <= 0:
        _refuse(
            RequestNotAllowed, "The amount must be greater than zero.", code="amount", **refusal
        )

    problem: tuple[str, str] | None = None
    with transaction.atomic():
        _lock_target("payment", payment_id)
        payment = Payment.objects.filter(pk=payment_id).first()
        if payment is None:
            problem = ("payment_not_found", "This payment has not reached the portal yet.")
        elif payment.status not in REFUNDABLE_PAYMENT_STATUSES:
            problem = (
                "not_refundable",
                f"A payment that is {payment.get_status_display().lower()} cannot be refunded.",
            )
        elif amount_cents > (available := refundable_now(payment)):
            problem = (
                "amount_exceeds_refundable",
                f"At most {to_major_units(available, payment.currency)} {payment.currency} "
                "can still be refunded: the payment amount minus what is refunded and what is "
                "already requested.",
            )
        if problem is None:
            now = timezone.now()
            rules = current_rules()
            refund_request = RefundRequest.objects.create(
                payment_id=payment_id,
                amount_cents=amount_cents,
                currency=payment.currency,
                category=category,
                reason=reason,
                requested_by=requester,
                requested_at=now,
                expires_at=now + rules.expiry,
                required_approvals=rules.required_approvals(
                    currency=payment.currency, amount_cents=amount_cents
                ),
                rules_in_force=rules.snapshot(),
                payload_digest=refund_payload_digest(
                    payment_id=payment_id,
                    amount_cents=amount_cents,
                    currency=payment.currency,
                    reason=reason,
                ),
                target_state_digest=payment_state_digest(payment),
                checked_at=now,
            )
            record(
                action="refund.request",
                actor=actor,
                target_type="refund_request",
                target_id=str(refund_request.id),
                params={
                    "payment_id": str(payment_id),
                    "amount_cents": amount_cents,
                    "currency": payment.currency,
                    "category": category,
                    "required_approvals": refund_request.required_approvals,
                    "rules_in_force": refund_request.rules_in_force,
                },
                reason=reason,
                request=request,
            )
            notify_managers_on_commit(refund_request)
    if problem is not None:
        code, message = problem
        _refuse(RequestNotAllowed, message, code=code, **refusal)
    return refund_request


def request_account_freeze(
    *,
    requester: Any,
    account_id: uuid.UUID,
    action: str,
    reason: str,
    request: HttpRequest | None = None,
) -> FreezeRequest:
    """An agent or manager asks for an account to be frozen or unfrozen."""
    actor = Actor.for_user(requester)
    reason = _clean_reason(reason)
    refusal = {
        "action": f"account.{action}.request",
        "actor": actor,
        "target_type": "account",
        "target_id": str(account_id),
        "request": request,
    }
    if action not in FreezeAction.values:
        _refuse(RequestNotAllowed, "Unknown action.", code="action", **refusal)
    if not requester.has_role(*WRITER_ROLES):
        _refuse(
            RequestNotAllowed,
            "Only support agents and managers can request account freezes.",
            code="role",
            **refusal,
        )
    if not reason:
        _refuse(RequestNotAllowed, "Give a reason.", code="reason_required", **refusal)

    problem: tuple[str, str] | None = None
    with transaction.atomic():
        _lock_target("account", account_id)
        account = Account.objects.filter(pk=account_id).first()
        wanted_from = (
            AccountStatus.ACTIVE if action == FreezeAction.FREEZE else AccountStatus.FROZEN
        )
        if account is None:
            problem = ("account_not_found", "This account has not reached the portal yet.")
        elif account.status != wanted_from:
            problem = (
                "invalid_state",
                f"The account is {account.get_status_display().lower()}; "
                f"only {wanted_from.label.lower()} accounts can be {action.rstrip('e')}ed.",
            )
        elif FreezeRequest.objects.filter(account_id=account_id, status__in=OPEN_STATUSES).exists():
            problem = ("already_requested", "A freeze or unfreeze of this account is already open.")
        if problem is None:
            now = timezone.now()
            rules = current_rules()
            freeze_request = FreezeRequest.objects.create(
                account_id=account_id,
                action=action,
                reason=reason,
                requested_by=requester,
                requested_at=now,
                expires_at=now + rules.expiry,
                required_approvals=1,
                rules_in_force=rules.snapshot(),
                payload_digest=freeze_payload_digest(
                    account_id=account_id, action=action, reason=reason
                ),
                target_state_digest=account_state_digest(account),
                checked_at=now,
            )
            record(
                action=f"account.{action}.request",
                actor=actor,
                target_type="freeze_request",
                target_id=str(freeze_request.id),
                params={
                    "account_id": str(account_id),
                    "rules_in_force": freeze_request.rules_in_force,
                },
                reason=reason,
                request=request,
            )
            notify_managers_on_commit(freeze_request)
    if problem is not None:
        code, message = problem
        _refuse(RequestNotAllowed, message, code=code, **refusal)
    return freeze_request


def cancel_request(
    *, approval_request: ApprovalRequest, actor_user: Any, request: HttpRequest | None = None
) -> ApprovalRequest:
    """The requester withdraws a request before it is decided."""
    actor = Actor.for_user(actor_user)
    action = _action(approval_request, "cancel")
    problem: tuple[str, str] | None = None
    with transaction.atomic():
        locked = _locked(approval_request)
        if locked.requested_by_id != actor_user.pk:
            problem = ("not_requester", "Only the person who made a request can cancel it.")
        elif locked.status != RequestStatus.REQUESTED:
            problem = (
                "already_decided",
                f"This request is already {locked.get_status_display().lower()}.",
            )
        else:
            locked.status = RequestStatus.CANCELLED
            locked.completed_at = timezone.now()
            locked.save(update_fields=["status", "completed_at"])
            _record_on(
                locked,
                action=action,
                actor=actor,
                request=request,
            )
    if problem is not None:
        code, message = problem
        _refuse(
            DecisionNotAllowed,
            message,
            code=code,
            action=action,
            actor=actor,
            target_type=_target_type(approval_request),
            target_id=str(approval_request.pk),
            request=request,
        )
    return locked


# --- deciding ----------------------------------------------------------------------


def _current_target_digest(approval_request: ApprovalRequest) -> tuple[str | None, str]:
    """The digest of the target as it is now, and a sentence on what it is."""
    if isinstance(approval_request, RefundRequest):
        payment = Payment.objects.filter(pk=approval_request.payment_id).first()
        if payment is None:
            return None, "the payment is missing from the portal"
        return (
            payment_state_digest(payment),
            f"the payment is {payment.get_status_display().lower()} with "
            f"{payment.refunded_cents} of {payment.amount_cents} refunded",
        )
    account = Account.objects.filter(pk=approval_request.account_id).first()
    if account is None:
        return None, "the account is missing from the portal"
    return account_state_digest(account), f"the account is {account.get_status_display().lower()}"


def _payload_digest(approval_request: ApprovalRequest) -> str:
    if isinstance(approval_request, RefundRequest):
        return refund_payload_digest(
            payment_id=approval_request.payment_id,
            amount_cents=approval_request.amount_cents,
            currency=approval_request.currency,
            reason=approval_request.reason,
        )
    return freeze_payload_digest(
        account_id=approval_request.account_id,
        action=approval_request.action,
        reason=approval_request.reason,
    )


def _decision_problem(
    locked: ApprovalRequest, decider: Any, comment: str, now: datetime
) -> tuple[type[ApprovalError], str, str] | None:
    if not decider.has_role(Role.MANAGER):
        return DecisionNotAllowed, "role", "Only managers can approve or reject requests."
    if locked.requested_by_id == decider.pk:
        return DecisionNotAllowed, "own_request", "You cannot decide on your own request."
    if locked.status != RequestStatus.REQUESTED:
        return (
            DecisionNotAllowed,
            "already_decided",
            f"This request is already {locked.get_status_display().lower()}.",
        )
    if locked.expires_at <= now:
        return (
            DecisionNotAllowed,
            "expired",
            "This request has expired; it can no longer be decided.",
        )
    if not comment:
        return DecisionNotAllowed, "comment_required", "Add a comment to your decision."
    if _valid_decisions(locked).filter(decided_by=decider).exists():
        return DecisionNotAllowed, "already_approved", "You have already approved this request."
    return None


def _valid_decisions(approval_request: ApprovalRequest):
    """Decisions taken since the request was last checked (a re-check voids earlier approvals)."""
    field = "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"
    return Decision.objects.filter(
        **{field: approval_request}, decided_at__gte=approval_request.checked_at
    )


def approve_request(
    *,
    approval_request: ApprovalRequest,
    approver: Any,
    comment: str,
    authenticated_at: datetime | None,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    """A manager approves. When enough distinct managers have, the Go call is queued (outbox)."""
    actor = Actor.for_user(approver)
    action = _action(approval_request, "approve")
    comment = _clean_reason(comment)
    now = timezone.now()
    rules = current_rules()
    problem: tuple[type[ApprovalError], str, str] | None = None
    params: dict[str, Any] = {"rules_in_force": rules.snapshot()}

    with transaction.atomic():
        locked = _locked(approval_request)
        problem = _decision_problem(locked, approver, comment, now)
        if problem is None and not _recent(authenticated_at, rules, now):
            problem = (
                ReauthenticationRequired,
                "reauthentication_required",
                "Approving moves money: please sign in again to confirm it is you.",
            )
        if problem is None and _payload_digest(locked) != locked.payload_digest:
            problem = (
                RequestChanged,
                "payload_changed",
                "The request's details no longer match what was requested; it must be re-checked.",
            )
        if problem is None:
            current, described = _current_target_digest(locked)
            if current != locked.target_state_digest:
                problem = (
                    RequestChanged,
                    "target_changed",
                    f"Things changed since this request was checked: now {described}. "
                    "Re-check the request before deciding.",
                )
        if problem is None:
            Decision.objects.create(
                **{_decision_field(locked): locked},
                decided_by=approver,
                kind=DecisionKind.APPROVE,
                comment=comment,
                decided_at=now,
                rules_in_force=rules.snapshot(),
            )
            required = max(locked.required_approvals, _required_now(locked, rules))
            approvals = _valid_decisions(locked).filter(kind=DecisionKind.APPROVE).count()
            params.update({"approvals": approvals, "required_approvals": required})
            if approvals >= required:
                locked.status = RequestStatus.APPROVED
                locked.decided_at = now
                locked.save(update_fields=["status", "decided_at"])
                call = _queue_call(locked, now)
                params["idempotency_key"] = call.idempotency_key
            _record_on(
                locked,
                action=action,
                actor=actor,
                params=params,
                reason=comment,
                request=request,
            )
            notify_managers_on_commit(locked)
    if problem is not None:
        error_class, code, message = problem
        _refuse(
            error_class,
            message,
            code=code,
            action=action,
            actor=actor,
            target_type=_target_type(approval_request),
            target_id=str(approval_request.pk),
            request=request,
            params=params,
        )
    return locked


def reject_request(
    *,
    approval_request: ApprovalRequest,
    rejecter: Any,
    comment: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    """A manager rejects; one rejection is final."""
    actor = Actor.for_user(rejecter)
    action = _action(approval_request, "reject")
    comment = _clean_reason(comment)
    now = timezone.now()
    rules = current_rules()
    with transaction.atomic():
        locked = _locked(approval_request)
        problem = _decision_problem(locked, rejecter, comment, now)
        if problem is not None and problem[1] == "already_approved":
            problem = None  # a manager who approved may still reject before the second approval
        if problem is None:
            Decision.objects.create(
                **{_decision_field(locked): locked},
                decided_by=rejecter,
                kind=DecisionKind.REJECT,
                comment=comment,
                decided_at=now,
                rules_in_force=rules.snapshot(),
            )
            locked.status = RequestStatus.REJECTED
            locked.decided_at = now
            locked.completed_at = now
            locked.save(update_fields=["status", "decided_at", "completed_at"])
            _record_on(
                locked,
                action=action,
                actor=actor,
                params={"rules_in_force": rules.snapshot()},
                reason=comment,
                request=request,
            )
    if problem is not None:
        error_class, code, message = problem
        _refuse(
            error_class,
            message,
            code=code,
            action=action,
            actor=actor,
            target_type=_target_type(approval_request),
            target_id=str(approval_request.pk),
            request=request,
        )
    return locked


def recheck_request(
    *, approval_request: ApprovalRequest, actor_user: Any, request: HttpRequest | None = None
) -> ApprovalRequest:
    """Check an undecided request again against the target as it is now.

    Approvals given before the re-check no longer count: they were given
    against another state.
    """
    actor = Actor.for_user(actor_user)
    action = _action(approval_request, "recheck")
    problem: tuple[str, str] | None = None
    with transaction.atomic():
        if isinstance(approval_request, RefundRequest):
            _lock_target("payment", approval_request.payment_id)
        locked = _locked(approval_request)
        if not (locked.requested_by_id == actor_user.pk or actor_user.has_role(Role.MANAGER)):
            problem = ("role", "Only the requester or a manager can re-check a request.")
        elif locked.status != RequestStatus.REQUESTED:
            problem = (
                "already_decided",
                f"This request is already {locked.get_status_display().lower()}.",
            )
        elif isinstance(locked, RefundRequest):
            payment = Payment.objects.filter(pk=locked.payment_id).first()
            if payment is None or payment.status not in REFUNDABLE_PAYMENT_STATUSES:
                problem = (
                    "not_refundable",
                    "The payment can no longer be refunded; cancel or reject the request.",
                )
            elif locked.amount_cents > refundable_now(payment, excluding=locked.pk):
                problem = (
                    "amount_exceeds_refundable",
                    "The requested amount is now more than can be refunded; cancel or reject the request.",
                )
        else:
            account = Account.objects.filter(pk=locked.account_id).first()
            wanted = (
                AccountStatus.ACTIVE
                if locked.action == FreezeAction.FREEZE
                else AccountStatus.FROZEN
            )
            if account is None or account.status != wanted:
                problem = (
                    "invalid_state",
                    "The account is no longer in a state this request applies to.",
                )
        if problem is None:
            current, described = _current_target_digest(locked)
            locked.target_state_digest = current or ""
            locked.payload_digest = _payload_digest(locked)
            locked.checked_at = timezone.now()
            locked.save(update_fields=["target_state_digest", "payload_digest", "checked_at"])
            _record_on(
                locked,
                action=action,
                actor=actor,
                params={"state": described},
                request=request,
            )
    if problem is not None:
        code, message = problem
        _refuse(
            RequestChanged,
            message,
            code=code,
            action=action,
            actor=actor,
            target_type=_target_type(approval_request),
            target_id=str(approval_request.pk),
            request=request,
        )
    return locked


def expire_overdue_requests(*, now: datetime | None = None) -> int:
    """Requests nobody decided in time become ``expired``; each one is recorded."""
    now = now or timezone.now()
    expired = 0
    for model in (RefundRequest, FreezeRequest):
        with transaction.atomic():
            overdue = model.objects.select_for_update(skip_locked=True).filter(
                status=RequestStatus.REQUESTED, expires_at__lte=now
            )
            for approval_request in overdue:
                approval_request.status = RequestStatus.EXPIRED
                approval_request.completed_at = now
                approval_request.save(update_fields=["status", "completed_at"])
                _record_on(
                    approval_request,
                    action=_action(approval_request, "expire"),
                    actor=WORKER,
                    params={"expires_at": approval_request.expires_at.isoformat()},
                )
                expired += 1
    return expired


def _recent(authenticated_at: datetime | None, rules: ApprovalRules, now: datetime) -> bool:
    if authenticated_at is None:
        return False
    return now - authenticated_at <= timedelta(seconds=rules.max_auth_age_seconds)


def _required_now(approval_request: ApprovalRequest, rules: ApprovalRules) -> int:
    if isinstance(approval_request, RefundRequest):
        return rules.required_approvals(
            currency=approval_request.currency, amount_cents=approval_request.amount_cents
        )
    return 1


def _decision_field(approval_request: ApprovalRequest) -> str:
    return "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"


# --- the outbox and the Go calls -------------------------------------------------


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


# --- closing the loop through the Go services' events -------------------------------


@dataclass(frozen=True)
class RefundObserved:
    """A refund's latest state as the payments service published it."""

    refund_id: uuid.UUID
    reference: str
    status: str
    failure_reason: str


def settle_refunds_from_events(*, refunds: Iterable[RefundObserved]) -> int:
    """Move refund requests to their outcome from ``refund.*`` events (called by the event consumer).

    Runs inside the consumer's batch transaction. Only requests the portal
    approved are touched; a request's outcome is never moved backwards.
    """
    by_reference: dict[uuid.UUID, RefundObserved] = {}
    for refund in refunds:
        try:
            by_reference[uuid.UUID(refund.reference)] = refund
        except (ValueError, TypeError):
            continue  # refunds not started from the portal carry no (or a foreign) reference
    if not by_reference:
        return 0
    settled = 0
    now = timezone.now()
    requests = RefundRequest.objects.select_for_update().filter(
        pk__in=by_reference,
        status__in=(RequestStatus.APPROVED, RequestStatus.SUBMITTED),
    )
    for refund_request in requests:
        observed = by_reference[refund_request.pk]
        if observed.status == "pending":
            if refund_request.status == RequestStatus.APPROVED:
                refund_request.status = RequestStatus.SUBMITTED
                refund_request.submitted_at = refund_request.submitted_at or now
            refund_request.refund_id = observed.refund_id
            refund_request.save(update_fields=["status", "submitted_at", "refund_id"])
            continue
        succeeded = observed.status == "succeeded"
        refund_request.status = RequestStatus.SUCCEEDED if succeeded else RequestStatus.FAILED
        refund_request.refund_id = observed.refund_id
        refund_request.completed_at = now
        if not succeeded:
            refund_request.failure_code = "refund_failed"
            refund_request.failure_message = (
                observed.failure_reason or "The payments service did not say why."
            )
        refund_request.save(
            update_fields=["status", "refund_id", "completed_at", "failure_code", "failure_message"]
        )
        _record_on(
            refund_request,
            action="refund.settle",
            actor=Actor.service("payments"),
            outcome=Outcome.SUCCESS if succeeded else Outcome.FAILED,
            params={"refund_id": str(observed.refund_id), "refund_status": observed.status},
            reason=observed.failure_reason,
        )
        settled += 1
    return settled


def settle_freezes_from_events(*, accounts: Iterable[tuple[uuid.UUID, str]]) -> int:
    """Confirm freeze/unfreeze requests from ``account.updated`` events (account id, new status)."""
    statuses = dict(accounts)
    if not statuses:
        return 0
    settled = 0
    now = timezone.now()
    requests = FreezeRequest.objects.select_for_update().filter(
        account_id__in=statuses, status__in=(RequestStatus.APPROVED, RequestStatus.SUBMITTED)
    )
    for freeze_request in requests:
        wanted = (
            AccountStatus.FROZEN
            if freeze_request.action == FreezeAction.FREEZE
            else AccountStatus.ACTIVE
        )
        if statuses[freeze_request.account_id] != wanted:
            continue
        freeze_request.status = RequestStatus.SUCCEEDED
        freeze_request.completed_at = now
        freeze_request.save(update_fields=["status", "completed_at"])
        _record_on(
            freeze_request,
            action=f"account.{freeze_request.action}.settle",
            actor=Actor.service("accounts"),
            params={"account_status": wanted},
        )
        settled += 1
    return settled
