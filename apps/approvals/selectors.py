"""Reads for maker-checker requests: the approval queue, a person's own requests, access checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from apps.approvals.models import (
    OPEN_STATUSES,
    ApprovalRequest,
    CallStatus,
    Decision,
    DecisionKind,
    FreezeRequest,
    OutboundCall,
    RefundRequest,
    RequestStatus,
)
from apps.identity.roles import WRITER_ROLES, Role
from apps.payments.models import Payment


def approval_queue(*, manager, limit: int = 200) -> list[ApprovalRequest]:
    """Undecided requests, oldest first; the manager's own are included but marked by the caller."""
    refunds = (
        RefundRequest.objects.filter(status=RequestStatus.REQUESTED)
        .select_related("requested_by", "payment", "payment__account")
        .order_by("requested_at")[:limit]
    )
    freezes = (
        FreezeRequest.objects.filter(status=RequestStatus.REQUESTED)
        .select_related("requested_by", "account")
        .order_by("requested_at")[:limit]
    )
    merged = sorted(chain(refunds, freezes), key=lambda item: item.requested_at)[:limit]
    _attach_decision_state(merged, manager)
    return merged


def settled_against_belief(*, days: int = 30, limit: int = 50) -> list[ApprovalRequest]:
    """Requests a service's event settled against what the portal believed, newest first.

    The queue's history: a request the portal had failed or given up on that the
    service executed after all. Such requests are rare; the two queries read
    only rows with the mark.
    """
    since = timezone.now() - timedelta(days=days)
    found = chain(
        RefundRequest.objects.filter(overridden_by_event_at__gte=since)
        .select_related("requested_by")
        .order_by("-overridden_by_event_at")[:limit],
        FreezeRequest.objects.filter(overridden_by_event_at__gte=since)
        .select_related("requested_by")
        .order_by("-overridden_by_event_at")[:limit],
    )
    return sorted(found, key=lambda item: item.overridden_by_event_at, reverse=True)[:limit]


def _attach_decision_state(requests: list[ApprovalRequest], manager) -> None:
    """Set ``approvals_so_far`` and ``approved_by_me`` on each request (two queries in all)."""
    refund_ids = [r.pk for r in requests if isinstance(r, RefundRequest)]
    freeze_ids = [r.pk for r in requests if isinstance(r, FreezeRequest)]
    decisions = Decision.objects.filter(
        Q(refund_request_id__in=refund_ids) | Q(freeze_request_id__in=freeze_ids),
        kind=DecisionKind.APPROVE,
    ).values_list("refund_request_id", "freeze_request_id", "decided_by_id", "decided_at")
    by_request: dict[uuid.UUID, list[tuple[int, object]]] = {}
    for refund_id, freeze_id, decided_by, decided_at in decisions:
        by_request.setdefault(refund_id or freeze_id, []).append((decided_by, decided_at))
    for item in requests:
        valid = [d for d in by_request.get(item.pk, []) if d[1] >= item.checked_at]
        item.approvals_so_far = len(valid)
        item.approved_by_me = any(decided_by == manager.pk for decided_by, _ in valid)
        item.is_mine = item.requested_by_id == manager.pk


def awaiting_count(*, manager) -> int:
    """Requests this manager could decide now: undecided, not their own, not yet approved by them."""
    if not manager.has_role(Role.MANAGER):
        return 0
    total = 0
    for model, field in ((RefundRequest, "refund_request"), (FreezeRequest, "freeze_request")):
        mine = Decision.objects.filter(
            **{field: OuterRef("pk")}, decided_by=manager, decided_at__gte=OuterRef("checked_at")
        )
        total += (
            model.objects.filter(status=RequestStatus.REQUESTED)
            .exclude(requested_by=manager)
            .exclude(Exists(mine))
            .count()
        )
    return total


def requests_of(*, user, limit: int = 200) -> list[ApprovalRequest]:
    """A person's own requests, newest first."""
    refunds = RefundRequest.objects.filter(requested_by=user).select_related("payment")
    freezes = FreezeRequest.objects.filter(requested_by=user).select_related("account")
    merged = chain(
        refunds.order_by("-requested_at")[:limit], freezes.order_by("-requested_at")[:limit]
    )
    return sorted(merged, key=lambda item: item.requested_at, reverse=True)[:limit]


def any_open(requests: list[ApprovalRequest]) -> bool:
    return any(item.status in OPEN_STATUSES for item in requests)


def refund_requests_for_payment(payment_id: uuid.UUID) -> QuerySet[RefundRequest]:
    return (
        RefundRequest.objects.filter(payment_id=payment_id)
        .select_related("requested_by")
        .order_by("-requested_at")
    )


def freeze_requests_for_account(account_id: uuid.UUID) -> QuerySet[FreezeRequest]:
    return (
        FreezeRequest.objects.filter(account_id=account_id)
        .select_related("requested_by")
        .order_by("-requested_at")
    )


def request_visible_to(*, user, request_id: uuid.UUID) -> ApprovalRequest:
    """The request, if this person may see it (managers and auditors: all; others: their own)."""
    for model in (RefundRequest, FreezeRequest):
        found = model.objects.select_related("requested_by").filter(pk=request_id).first()
        if found is None:
            continue
        if user.has_role(Role.MANAGER, Role.AUDITOR) or found.requested_by_id == user.pk:
            return found
        break
    raise Http404("No such request")


def decisions_of(approval_request: ApprovalRequest) -> QuerySet[Decision]:
    field = "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"
    return (
        Decision.objects.filter(**{field: approval_request})
        .select_related("decided_by")
        .order_by("decided_at")
    )


def open_refund_total(payment_id: uuid.UUID, *, excluding: uuid.UUID | None = None) -> int:
    """Amounts already requested for a payment and not finished (requested, approved, submitted)."""
    requests = RefundRequest.objects.filter(payment_id=payment_id, status__in=OPEN_STATUSES)
    if excluding is not None:
        requests = requests.exclude(pk=excluding)
    return requests.aggregate(total=Sum("amount_cents"))["total"] or 0


def refundable_now(payment: Payment, *, excluding: uuid.UUID | None = None) -> int:
    """Payment amount minus refunded so far minus amounts requested and not finished."""
    return max(
        payment.amount_cents
        - payment.refunded_cents
        - open_refund_total(payment.payment_id, excluding=excluding),
        0,
    )


def due_outbound_calls(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Calls that should be sent now: pending and due, or sending under a lease that ran out.

    A call still inside its send lease is never listed, however long it has
    been sending: its sender may still be waiting for the answer.
    """
    now = now or timezone.now()
    pending = OutboundCall.objects.filter(status=CallStatus.PENDING, next_attempt_at__lte=now)
    lost = OutboundCall.objects.filter(status=CallStatus.SENDING, claimed_until__lt=now)
    return list((pending | lost).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def call_of(approval_request: ApprovalRequest) -> OutboundCall | None:
    """The outbox row of an approved request (none before approval)."""
    field = "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"
    return OutboundCall.objects.filter(**{field: approval_request}).first()


@dataclass(frozen=True)
class RequestActions:
    """What one person may do with one request now; the services check all of it again."""

    decide: bool = False
    approve_needs_sign_in: bool = False
    cancel: bool = False
    recheck: bool = False
    retry: bool = False
    own_request: bool = False
    already_approved: bool = False

    @property
    def any(self) -> bool:
        return self.decide or self.cancel or self.recheck or self.retry


def actions_for(
    *, user, approval_request: ApprovalRequest, recently_signed_in: bool
) -> RequestActions:
    """The buttons to show. Auditors get none; nobody gets a decision on their own request."""
    undecided = approval_request.status == RequestStatus.REQUESTED
    if undecided and not hasattr(approval_request, "approved_by_me"):
        _attach_decision_state([approval_request], user)
    if not user.has_role(*WRITER_ROLES):
        return RequestActions()
    is_manager = user.has_role(Role.MANAGER)
    own = approval_request.requested_by_id == user.pk
    approved_by_me = getattr(approval_request, "approved_by_me", False)
    call = None
    if is_manager and approval_request.status in (RequestStatus.APPROVED, RequestStatus.FAILED):
        call = call_of(approval_request)
    return RequestActions(
        decide=is_manager and undecided and not own,
        approve_needs_sign_in=not recently_signed_in,
        cancel=own and undecided,
        recheck=undecided and (own or is_manager),
        retry=call is not None and call.status == CallStatus.ABANDONED,
        own_request=own,
        already_approved=bool(approved_by_me),
    )


# --- the start page's figures (a few indexed queries; the chart is cached briefly) ---------

CHART_DAYS = 30
# Past days barely change (a late settlement event): their sums are kept ten minutes; today's
# are read at every request (a day of rows, on the requested_at / created_at indexes).
PAST_DAYS_CACHE_SECONDS = 600
EVER_APPROVED = (
    RequestStatus.APPROVED,
    RequestStatus.SUBMITTED,
    RequestStatus.SUCCEEDED,
    RequestStatus.FAILED,
)


@dataclass(frozen=True)
class ManagerFigures:
    waiting_for_me: int
    waiting_for_second: int
    oldest_waiting_since: datetime | None
    decided_today: int


def _approved_once(field: str) -> Exists:
    return Exists(
        Decision.objects.filter(
            **{field: OuterRef("pk")},
            kind=DecisionKind.APPROVE,
            decided_at__gte=OuterRef("checked_at"),
        )
    )


def manager_figures(*, manager, today_starts: datetime) -> ManagerFigures:
    second = 0
    oldest: list[datetime] = []
    decided = 0
    for model, field in ((RefundRequest, "refund_request"), (FreezeRequest, "freeze_request")):
        waiting = model.objects.filter(status=RequestStatus.REQUESTED)
        second += waiting.filter(required_approvals__gte=2).filter(_approved_once(field)).count()
        first = waiting.order_by("requested_at").values_list("requested_at", flat=True).first()
        if first is not None:
            oldest.append(first)
        decided += model.objects.filter(decided_at__gte=today_starts).count()
    return ManagerFigures(
        waiting_for_me=awaiting_count(manager=manager),
        waiting_for_second=second,
        oldest_waiting_since=min(oldest, default=None),
        decided_today=decided,
    )


@dataclass(frozen=True)
class RequesterFigures:
    open_requests: list[ApprovalRequest]
    open_count: int
    decided_since: int


def requester_figures(*, user, since: datetime | None, shown: int = 5) -> RequesterFigures:
    """A requester's open requests (newest first) and how many were decided since ``since``."""
    refunds = RefundRequest.objects.filter(requested_by=user)
    freezes = FreezeRequest.objects.filter(requested_by=user)
    open_refunds = refunds.filter(status__in=OPEN_STATUSES)
    open_freezes = freezes.filter(status__in=OPEN_STATUSES)
    newest = sorted(
        chain(
            open_refunds.order_by("-requested_at")[:shown],
            open_freezes.select_related("account").order_by("-requested_at")[:shown],
        ),
        key=lambda item: item.requested_at,
        reverse=True,
    )[:shown]
    decided = 0
    if since is not None:
        decided = (
            refunds.filter(decided_at__gt=since).count()
            + freezes.filter(decided_at__gt=since).count()
        )
    else:
        decided = (
            refunds.filter(decided_at__isnull=False).count()
            + freezes.filter(decided_at__isnull=False).count()
        )
    return RequesterFigures(
        open_requests=newest,
        open_count=open_refunds.count() + open_freezes.count(),
        decided_since=decided,
    )


def refund_flow_by_day(
    *, since: datetime, until: datetime | None = None, tz
) -> dict[str, dict[str, dict]]:
    """Refund amounts per currency and day: requested, approved (portal requests) and executed
    (succeeded refunds in the payments read model), in minor units.

    ``{currency: {"requested": {date: cents}, "approved": {…}, "executed": {…}}}``
    """
    from django.db.models.functions import TruncDate

    from apps.payments.models import Refund, RefundStatus

    flows: dict[str, dict[str, dict]] = {}

    def add(name: str, rows) -> None:
        for currency, day, cents in rows:
            flows.setdefault(currency, {"requested": {}, "approved": {}, "executed": {}})
            flows[currency][name][day] = cents or 0

    def grouped(queryset, field: str):
        if until is not None:
            queryset = queryset.filter(**{f"{field}__lt": until})
        return (
            queryset.annotate(day=TruncDate(field, tzinfo=tz))
            .values("currency", "day")
            .annotate(total=Sum("amount_cents"))
            .values_list("currency", "day", "total")
        )

    add("requested", grouped(RefundRequest.objects.filter(requested_at__gte=since), "requested_at"))
    add(
        "approved",
        grouped(
            RefundRequest.objects.filter(decided_at__gte=since, status__in=EVER_APPROVED),
            "decided_at",
        ),
    )
    add(
        "executed",
        grouped(
            Refund.objects.filter(created_at__gte=since, status=RefundStatus.SUCCEEDED),
            "created_at",
        ),
    )
    return flows
