"""Requesting: an agent or manager asks for a refund or a freeze; the requester may cancel."""

from __future__ import annotations

import uuid
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
    DecisionNotAllowed,
    RequestNotAllowed,
)
from apps.approvals.models import (
    OPEN_STATUSES,
    ApprovalRequest,
    FreezeAction,
    FreezeRequest,
    RefundCategory,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.rules import current_rules
from apps.approvals.selectors import refundable_now
from apps.approvals.services.notifying import notify_managers_on_commit
from apps.approvals.services.records import (
    REFUNDABLE_PAYMENT_STATUSES,
    _action,
    _clean_reason,
    _lock_target,
    _locked,
    _record_on,
    _refuse,
    _refuse_on,
)
from apps.audit.services import Actor, record
from apps.identity.roles import WRITER_ROLES
from apps.payments.currencies import to_major_units
from apps.payments.models import Payment


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
        _refuse_on(
            approval_request,
            DecisionNotAllowed,
            message,
            code=code,
            action=action,
            actor=actor,
            request=request,
        )
    return locked
