"""Deciding: managers approve (four eyes, step-up, bound to what was checked) or reject; re-checks; expiry.

The approval that completes a request queues its Go call (``sending._queue_call``) in the
same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import Account, AccountStatus
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
)
from apps.approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionKind,
    FreezeAction,
    FreezeRequest,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.rules import ApprovalRules, current_rules
from apps.approvals.selectors import refundable_now
from apps.approvals.services.notifying import notify_managers_on_commit
from apps.approvals.services.records import (
    REFUNDABLE_PAYMENT_STATUSES,
    WORKER,
    _action,
    _clean_reason,
    _decision_field,
    _lock_target,
    _locked,
    _record_on,
    _refuse_on,
)
from apps.approvals.services.sending import _queue_call
from apps.audit.services import Actor
from apps.identity.roles import Role
from apps.payments.models import Payment


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
        _refuse_on(
            approval_request,
            error_class,
            message,
            code=code,
            action=action,
            actor=actor,
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
        _refuse_on(
            approval_request,
            error_class,
            message,
            code=code,
            action=action,
            actor=actor,
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
        _refuse_on(
            approval_request,
            RequestChanged,
            message,
            code=code,
            action=action,
            actor=actor,
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
