"""Settling: the Go services' events move approved requests to their outcome."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from apps.accounts.models import AccountStatus
from apps.approvals.models import (
    FreezeAction,
    FreezeRequest,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.services.records import _record_on
from apps.audit.services import Actor, Outcome


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
