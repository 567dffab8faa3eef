"""Reads for reports: the rows each report is made of, and which runs a person or service sees."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, Exists, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, JSONObject
from django.http import Http404

from apps.approvals.models import Decision, RefundRequest
from apps.identity.roles import Role
from apps.payments.models import Payment, Refund
from apps.reports.models import ReportKind, ReportRun, ReportSchedule, RunStatus
from apps.reports.parameters import ReportParameters

# --- who may ask for what -------------------------------------------------------------------

# Managers and auditors read payments and refunds everywhere in the portal; only auditors
# read the whole action log (managers see the part that concerns them), so only they extract it.
KINDS_BY_ROLE: dict[str, tuple[str, ...]] = {
    Role.MANAGER: (ReportKind.PAYMENTS, ReportKind.REFUNDS),
    Role.AUDITOR: (ReportKind.PAYMENTS, ReportKind.REFUNDS, ReportKind.ACTION_LOG),
}
SERVICE_KINDS: tuple[str, ...] = (ReportKind.PAYMENTS, ReportKind.REFUNDS)
# Who may open the reports page at all.
REPORT_ROLES: tuple[str, ...] = tuple(KINDS_BY_ROLE)


def kinds_for_user(user: Any) -> list[str]:
    allowed = {kind for role in user.roles or [] for kind in KINDS_BY_ROLE.get(role, ())}
    return [kind for kind in ReportKind.values if kind in allowed]


def runs_visible_to(user: Any) -> QuerySet[ReportRun]:
    """Runs are shared within the team: every run of a kind the person may ask for."""
    return (
        ReportRun.objects.filter(kind__in=kinds_for_user(user))
        .select_related("requested_by", "schedule")
        .order_by("-created_at", "-id")
    )


def run_visible_to(user: Any, run_id: uuid.UUID) -> ReportRun:
    run = runs_visible_to(user).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such report, or not one you may see.")
    return run


def runs_of_service(name: str) -> QuerySet[ReportRun]:
    """A service sees the runs it asked for itself, and nothing else."""
    return ReportRun.objects.filter(requested_by_service=name).order_by("-created_at", "-id")


def run_of_service(name: str, run_id: uuid.UUID) -> ReportRun | None:
    return runs_of_service(name).filter(pk=run_id).first()


def runs_queued_before(moment: datetime) -> list[uuid.UUID]:
    """Runs still waiting for a worker since before ``moment`` (their task may have been lost)."""
    return list(
        ReportRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=moment).values_list(
            "pk", flat=True
        )[:500]
    )


def schedules() -> QuerySet[ReportSchedule]:
    return ReportSchedule.objects.select_related("periodic_task", "created_by")


# --- the rows of each report ------------------------------------------------------------


def payments_in(parameters: ReportParameters) -> QuerySet[Payment]:
    """Payments created in the period, oldest first (the ``payment_created`` index)."""
    payments = Payment.objects.filter(
        created_at__gte=parameters.start, created_at__lt=parameters.end
    )
    if parameters.statuses:
        payments = payments.filter(status__in=parameters.statuses)
    if parameters.currencies:
        payments = payments.filter(currency__in=parameters.currencies)
    return payments.order_by("created_at", "payment_id")


def _refund_of_request() -> Subquery:
    """The payments service's refund for a request: by the id from its 202, or by the reference."""
    refunds = Refund.objects.filter(
        Q(refund_id=OuterRef("refund_id")) | Q(reference=Cast(OuterRef("id"), CharField()))
    ).order_by("created_at")
    return Subquery(
        refunds.values(
            json=JSONObject(
                refund_id="refund_id",
                status="status",
                created_at="created_at",
                failure_reason="failure_reason",
            )
        )[:1],
        output_field=JSONField(),
    )


def refund_requests_in(parameters: ReportParameters) -> QuerySet[RefundRequest]:
    """Refund requests made in the period."""
    requests = RefundRequest.objects.filter(
        requested_at__gte=parameters.start, requested_at__lt=parameters.end
    )
    if parameters.currencies:
        requests = requests.filter(currency__in=parameters.currencies)
    return requests


def refund_requests_with_outcomes_in(parameters: ReportParameters) -> QuerySet[RefundRequest]:
    """Refund requests made in the period with their decisions and the refund they led to."""
    decisions = (
        Decision.objects.filter(refund_request=OuterRef("pk"))
        .order_by("decided_at", "pk")
        .values(json=JSONObject(kind="kind", by="decided_by__email", at="decided_at"))
    )
    return (
        refund_requests_in(parameters)
        .annotate(decisions_made=ArraySubquery(decisions), refund_made=_refund_of_request())
        .order_by("requested_at", "id")
    )


def refunds_outside_the_portal_in(parameters: ReportParameters) -> QuerySet[Refund]:
    """Refunds created in the period that no portal request asked for (made at the service)."""
    by_refund_id = RefundRequest.objects.filter(refund_id=OuterRef("refund_id"))
    by_reference = RefundRequest.objects.annotate(reference=Cast("id", CharField())).filter(
        reference=OuterRef("reference")
    )
    refunds = Refund.objects.filter(created_at__gte=parameters.start, created_at__lt=parameters.end)
    if parameters.currencies:
        refunds = refunds.filter(currency__in=parameters.currencies)
    # Two anti-joins rather than one with OR: each one is a hash anti-join for PostgreSQL.
    return (
        refunds.exclude(Exists(by_refund_id))
        .exclude(Exists(by_reference))
        .order_by("created_at", "refund_id")
    )
