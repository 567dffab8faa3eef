"""What every stage of a request shares: row locks, refusals, action-log entries on a request."""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.db import connection, transaction
from django.http import HttpRequest

from apps.approvals.errors import ApprovalError
from apps.approvals.models import (
    ApprovalRequest,
    RefundRequest,
)
from apps.audit.services import Actor, Outcome, record
from apps.payments.models import PaymentStatus

REFUNDABLE_PAYMENT_STATUSES = (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED)
MAX_REASON_LENGTH = 2000
WORKER = Actor.system("portal-worker")


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


def _refuse_on(
    approval_request: ApprovalRequest,
    error_class: type[ApprovalError],
    message: str,
    **kwargs: Any,
) -> NoReturn:
    """``_refuse`` for an action on an existing request (its type and id as the target)."""
    _refuse(
        error_class,
        message,
        target_type=_target_type(approval_request),
        target_id=str(approval_request.pk),
        **kwargs,
    )


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


def _decision_field(approval_request: ApprovalRequest) -> str:
    return "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"
