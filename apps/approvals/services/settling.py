"""Settling: the Go services' events move approved requests to their outcome.

The events are the truth. A call the portal gave up on, or an answer it took
for a refusal, may still have been executed: a ``refund.*`` event echoing a
request's ``reference`` settles that request whatever the portal last
believed, and an ``account.updated`` showing the state a freeze asked for
settles a freeze the portal had abandoned. When an event overturns such a
belief, the request keeps a mark of it (``overridden_by_event_at``,
``overridden_belief``, shown in the managers' queue history) and the action
log says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from apps.accounts.models import AccountStatus
from apps.approvals.models import (
    ApprovalRequest,
    FreezeAction,
    FreezeRequest,
    RefundRequest,
    RequestStatus,
)
from apps.approvals.services.records import _record_on
from apps.audit.services import Actor, Outcome
from apps.events.observers import AppliedEvents
from apps.events.schema import AccountData, RefundData


@dataclass(frozen=True)
class RefundObserved:
    """A refund's latest state as the payments service published it."""

    refund_id: uuid.UUID
    reference: str
    status: str
    failure_reason: str


# The failure code a refund.updated (failed) event leaves: that one is the service's word.
REFUND_FAILED_BY_SERVICE = "refund_failed"
# Failures the portal concluded on its own side of the wire. A freeze event carries no
# reference, so only these (not a service's own refusal) may be overturned by account.updated.
PORTAL_SIDE_FAILURES = frozenset(
    {"service_unreachable", "idempotency_key_in_use", "timeout", "connection_error"}
)


def _portal_belief(
    approval_request: ApprovalRequest, *, overridable: frozenset[str] | None = None
) -> str | None:
    """What the portal concluded on its own that an event may overturn, in words; else None.

    ``failed (code)`` for a request the portal failed, ``abandoned (code)`` for an
    approved request whose call it gave up on. ``overridable`` limits which failures
    count (all but the service's own ``refund_failed`` when not given).
    """
    code = approval_request.failure_code
    if approval_request.status == RequestStatus.APPROVED and code:
        return f"abandoned ({code})"
    if approval_request.status != RequestStatus.FAILED or code == REFUND_FAILED_BY_SERVICE:
        return None
    if overridable is not None and code not in overridable:
        return None
    return f"failed ({code})"


def _mark_overridden(
    approval_request: ApprovalRequest, belief: str | None, now: datetime, fields: list[str]
) -> dict[str, str]:
    """Flag the request when an event overturned the portal's belief; the entry's extra params."""
    if belief is None:
        return {}
    approval_request.overridden_by_event_at = now
    approval_request.overridden_belief = belief[:255]
    fields += ["overridden_by_event_at", "overridden_belief"]
    return {"overrode": belief}


def _override_sentence(service: str, what: str, belief: str | None) -> str:
    if belief is None:
        return ""
    return f"The {service} service's event ({what}) overrode the portal's belief: {belief}."


def settle_from_applied_events(applied: AppliedEvents) -> None:
    """The intake's observer (``apps.events.observers``): settle what a batch's events answer.

    Runs inside the batch's transaction: ``refund.*`` events that echo a
    request's ``reference`` settle refund requests; ``account.updated`` settles
    freeze and unfreeze requests.
    """
    refunds = []
    for event in applied.get("refund", {}).values():
        data = event.data
        if isinstance(data, RefundData) and data.reference:
            refunds.append(
                RefundObserved(data.refund_id, data.reference, data.status, data.failure_reason)
            )
    if refunds:
        settle_refunds_from_events(refunds=refunds)
    accounts = [
        (event.data.account_id, event.data.status)
        for event in applied.get("account", {}).values()
        if isinstance(event.data, AccountData)
    ]
    if accounts:
        settle_freezes_from_events(accounts=accounts)


def settle_refunds_from_events(*, refunds: Iterable[RefundObserved]) -> int:
    """Move refund requests to what ``refund.*`` events say (called by the event consumer).

    Runs inside the consumer's batch transaction. A request the portal failed
    or abandoned is settled all the same, and flagged; a ``pending`` event never
    moves a request the service already settled backwards. Returns how many
    requests changed.
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
        status__in=(
            RequestStatus.APPROVED,
            RequestStatus.SUBMITTED,
            RequestStatus.FAILED,
            RequestStatus.SUCCEEDED,
        ),
    )
    for refund_request in requests:
        observed = by_reference[refund_request.pk]
        belief = _portal_belief(refund_request)
        if observed.status == "pending":
            changed = _refund_received(refund_request, observed, belief, now)
        else:
            changed = _refund_settled(refund_request, observed, belief, now)
        settled += changed
    return settled


def _refund_received(
    refund_request: RefundRequest, observed: RefundObserved, belief: str | None, now: datetime
) -> bool:
    """A ``pending`` event: the service has the refund; the outcome is still to come."""
    moves = refund_request.status == RequestStatus.APPROVED or (
        refund_request.status == RequestStatus.FAILED and belief is not None
    )
    if not moves and refund_request.status != RequestStatus.SUBMITTED:
        return False  # already settled by a later event: never backwards
    fields = ["refund_id"]
    refund_request.refund_id = observed.refund_id
    if moves:
        refund_request.status = RequestStatus.SUBMITTED
        refund_request.submitted_at = refund_request.submitted_at or now
        refund_request.completed_at = None
        refund_request.failure_code = refund_request.failure_message = ""
        fields += ["status", "submitted_at", "completed_at", "failure_code", "failure_message"]
    overrode = _mark_overridden(refund_request, belief, now, fields)
    refund_request.save(update_fields=fields)
    if overrode:
        _record_on(
            refund_request,
            action="refund.settle",
            actor=Actor.service("payments"),
            outcome=Outcome.SUCCESS,
            params={
                "refund_id": str(observed.refund_id),
                "refund_status": observed.status,
                **overrode,
            },
            reason=_override_sentence("payments", "refund pending", belief),
        )
    return moves


def _refund_settled(
    refund_request: RefundRequest, observed: RefundObserved, belief: str | None, now: datetime
) -> bool:
    """A ``succeeded`` or ``failed`` event: the outcome, whatever the portal believed."""
    succeeded = observed.status == "succeeded"
    outcome = RequestStatus.SUCCEEDED if succeeded else RequestStatus.FAILED
    if refund_request.status == outcome:
        if belief is None:
            return False  # this outcome was already recorded from the service's event
        belief = None  # the portal's guess had the right outcome; the event adds the reason
    refund_request.status = outcome
    refund_request.refund_id = observed.refund_id
    refund_request.submitted_at = refund_request.submitted_at or now
    refund_request.completed_at = now
    if succeeded:
        refund_request.failure_code = refund_request.failure_message = ""
    else:
        refund_request.failure_code = REFUND_FAILED_BY_SERVICE
        refund_request.failure_message = (
            observed.failure_reason or "The payments service did not say why."
        )
    fields = [
        "status",
        "refund_id",
        "submitted_at",
        "completed_at",
        "failure_code",
        "failure_message",
    ]
    overrode = _mark_overridden(refund_request, belief, now, fields)
    refund_request.save(update_fields=fields)
    _record_on(
        refund_request,
        action="refund.settle",
        actor=Actor.service("payments"),
        outcome=Outcome.SUCCESS if succeeded else Outcome.FAILED,
        params={
            "refund_id": str(observed.refund_id),
            "refund_status": observed.status,
            **overrode,
        },
        reason=" ".join(
            part
            for part in (
                observed.failure_reason,
                _override_sentence("payments", f"refund {observed.status}", belief),
            )
            if part
        ),
    )
    return True


def settle_freezes_from_events(*, accounts: Iterable[tuple[uuid.UUID, str]]) -> int:
    """Confirm freeze/unfreeze requests from ``account.updated`` events (account id, new status).

    An approved request (abandoned or not) whose account now shows the state it
    asked for has succeeded; so has one the portal failed for a reason on its
    own side (``PORTAL_SIDE_FAILURES``) — flagged as overridden.
    """
    statuses = dict(accounts)
    if not statuses:
        return 0
    settled = 0
    now = timezone.now()
    requests = FreezeRequest.objects.select_for_update().filter(
        account_id__in=statuses,
        status__in=(RequestStatus.APPROVED, RequestStatus.SUBMITTED, RequestStatus.FAILED),
    )
    for freeze_request in requests:
        wanted = (
            AccountStatus.FROZEN
            if freeze_request.action == FreezeAction.FREEZE
            else AccountStatus.ACTIVE
        )
        if statuses[freeze_request.account_id] != wanted:
            continue
        belief = _portal_belief(freeze_request, overridable=PORTAL_SIDE_FAILURES)
        if freeze_request.status == RequestStatus.FAILED and belief is None:
            continue  # the service refused this one itself; someone else changed the account
        freeze_request.status = RequestStatus.SUCCEEDED
        freeze_request.submitted_at = freeze_request.submitted_at or now
        freeze_request.completed_at = now
        freeze_request.failure_code = freeze_request.failure_message = ""
        fields = ["status", "submitted_at", "completed_at", "failure_code", "failure_message"]
        overrode = _mark_overridden(freeze_request, belief, now, fields)
        freeze_request.save(update_fields=fields)
        _record_on(
            freeze_request,
            action=f"account.{freeze_request.action}.settle",
            actor=Actor.service("accounts"),
            params={"account_status": wanted, **overrode},
            reason=_override_sentence("accounts", f"account {wanted}", belief),
        )
        settled += 1
    return settled
