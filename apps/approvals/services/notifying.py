"""Telling managers that a request waits for them, without anyone polling.

A request starts waiting for a manager when it is made, and again when the
first of two required approvals is in. The service that changed the state
calls :func:`notify_managers_on_commit` inside its transaction; the notice
is handed to Celery only after commit (nothing is sent for a rolled-back
change) and each channel — e-mail through Django's backend, and a JSON post
to ``APPROVAL_WEBHOOK_URL`` when set — is its own task, retried on its own,
and recorded in the action log. A daily digest lists what still waits.

What leaves the portal is kept small on purpose: the amount, the payment's
(or account's) short id, the requester and a link — never the reason, the
customer or the full ids.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from apps.approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionKind,
    FreezeRequest,
    RefundRequest,
    RequestStatus,
)
from apps.audit.services import Actor, Outcome, not_audited, record
from apps.identity.roles import Role
from apps.payments.currencies import to_major_units

logger = logging.getLogger(__name__)

FIRST_MANAGER = "first"
SECOND_MANAGER = "second"
WEBHOOK_TIMEOUT_SECONDS = 5.0


class WebhookFailed(Exception):
    """The webhook receiver did not take the notice (retried by the task)."""


# --- from the services: one call per state change ------------------------------------------


@not_audited(
    "schedules the notices after commit; each one sent or given up is recorded by its task"
)
def notify_managers_on_commit(approval_request: ApprovalRequest) -> None:
    """If the request now waits for a manager, tell them once this transaction commits.

    Called by the services after every state change that may leave a request
    waiting (made; approved once of two). A request that is no longer
    undecided sends nothing, so the call is safe after any decision.
    """
    if approval_request.status != RequestStatus.REQUESTED:
        return
    stage = SECOND_MANAGER if _approvals_in(approval_request) else FIRST_MANAGER
    kind = approval_request.kind
    request_id = str(approval_request.pk)

    def enqueue() -> None:
        from apps.approvals.tasks import send_waiting_email, send_waiting_webhook

        send_waiting_email.delay(kind, request_id, stage)
        if settings.APPROVAL_WEBHOOK_URL:
            send_waiting_webhook.delay(kind, request_id, stage)

    transaction.on_commit(enqueue)


def _approvals_in(approval_request: ApprovalRequest) -> int:
    field = "refund_request" if isinstance(approval_request, RefundRequest) else "freeze_request"
    return Decision.objects.filter(
        **{field: approval_request},
        kind=DecisionKind.APPROVE,
        decided_at__gte=approval_request.checked_at,
    ).count()


# --- what a notice says ----------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingNotice:
    """The whole content of a notice: nothing else about the request leaves the portal."""

    request_id: str
    what: str  # "Refund of 25.00 EUR on payment 1a2b3c4d" / "Freeze of account 9f8e7d6c"
    requester: str
    link: str
    stage: str

    @property
    def subject(self) -> str:
        who = "a second manager" if self.stage == SECOND_MANAGER else "a manager"
        return f"Waiting for {who}: {self.what}"

    @property
    def text(self) -> str:
        return f"{self.subject}, requested by {self.requester}. {self.link}"


def _notice(approval_request: ApprovalRequest, stage: str) -> WaitingNotice:
    if isinstance(approval_request, RefundRequest):
        amount = to_major_units(approval_request.amount_cents, approval_request.currency)
        what = (
            f"Refund of {amount} {approval_request.currency} "
            f"on payment {str(approval_request.payment_id)[:8]}"
        )
    else:
        what = (
            f"{approval_request.get_action_display()} of account "
            f"{str(approval_request.account_id)[:8]}"
        )
    link = settings.PORTAL_BASE_URL + reverse(
        "approvals:detail", kwargs={"request_id": approval_request.pk}
    )
    return WaitingNotice(
        request_id=str(approval_request.pk),
        what=what,
        requester=approval_request.requested_by.display_name,
        link=link,
        stage=stage,
    )


def _load(kind: str, request_id: str) -> ApprovalRequest | None:
    model = RefundRequest if kind == RefundRequest.kind else FreezeRequest
    return model.objects.select_related("requested_by").filter(pk=uuid.UUID(request_id)).first()


def _still_waiting(approval_request: ApprovalRequest | None, stage: str) -> bool:
    """A notice sent late (a retry, a busy worker) is dropped if the request moved on."""
    if approval_request is None or approval_request.status != RequestStatus.REQUESTED:
        return False
    approvals = _approvals_in(approval_request)
    return (stage == SECOND_MANAGER) == (approvals > 0)


def _manager_addresses(*, excluding: ApprovalRequest | None = None) -> list[str]:
    """Managers who could decide: not the requester, not one who already approved it."""
    managers = (
        get_user_model()
        .objects.filter(roles__contains=[Role.MANAGER], is_active=True)
        .exclude(email="")
    )
    if excluding is not None:
        field = "refund_request" if isinstance(excluding, RefundRequest) else "freeze_request"
        approved = Decision.objects.filter(
            **{field: excluding}, decided_at__gte=excluding.checked_at
        ).values("decided_by")
        managers = managers.exclude(Q(pk=excluding.requested_by_id) | Q(pk__in=approved))
    return sorted(managers.values_list("email", flat=True))


def _record_sent(
    *,
    channel: str,
    target_id: str,
    params: dict[str, Any],
    kind: str = "",
    outcome: str = Outcome.SUCCESS,
) -> None:
    """One action-log entry per notice sent (or given up), on the request like its other steps."""
    record(
        action=f"approvals.notify.{channel}",
        actor=Actor.system("approvals-notify"),
        target_type=f"{kind}_request" if kind else "approval_queue",
        target_id=target_id,
        params=params,
        outcome=outcome,
    )


# --- the channels (called by the tasks) ------------------------------------------------------


def send_waiting_email(*, kind: str, request_id: str, stage: str) -> int:
    """E-mail the managers who could decide; returns how many were written to."""
    approval_request = _load(kind, request_id)
    if not _still_waiting(approval_request, stage):
        return 0
    notice = _notice(approval_request, stage)
    recipients = _manager_addresses(excluding=approval_request)
    if not recipients:
        # Said where an operator looks: a waiting request nobody could be told about.
        _record_sent(
            channel="email",
            kind=kind,
            target_id=request_id,
            params={"stage": stage, "recipients": 0, "error": "no manager with an e-mail address"},
            outcome=Outcome.FAILED,
        )
        return 0
    # One message per manager: no one learns who else was told.
    with transaction.atomic():
        for address in recipients:
            send_mail(notice.subject, notice.text + "\n", settings.DEFAULT_FROM_EMAIL, [address])
        _record_sent(
            channel="email",
            kind=kind,
            target_id=request_id,
            params={"stage": stage, "recipients": len(recipients)},
        )
    return len(recipients)


def _post_webhook(text: str) -> int:
    """POST ``{"text": …}`` (what Slack and Teams incoming webhooks read); raises WebhookFailed."""
    try:
        response = httpx.post(
            settings.APPROVAL_WEBHOOK_URL, json={"text": text}, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as error:
        raise WebhookFailed(f"webhook unreachable: {error}") from error
    if response.status_code >= 300:
        raise WebhookFailed(f"webhook answered {response.status_code}")
    return response.status_code


def send_waiting_webhook(*, kind: str, request_id: str, stage: str) -> bool:
    """Post the notice to the webhook; True if posted, False if there was nothing to say."""
    if not settings.APPROVAL_WEBHOOK_URL:
        return False
    approval_request = _load(kind, request_id)
    if not _still_waiting(approval_request, stage):
        return False
    status = _post_webhook(_notice(approval_request, stage).text)
    _record_sent(
        channel="webhook",
        kind=kind,
        target_id=request_id,
        params={"stage": stage, "http_status": status},
    )
    return True


def record_notice_given_up(
    *, channel: str, kind: str, request_id: str, stage: str, error: str
) -> None:
    """After the last retry of a channel: the failure is in the action log, where an operator looks."""
    _record_sent(
        channel=channel,
        kind=kind,
        target_id=request_id,
        params={"stage": stage, "error": error[:500]},
        outcome=Outcome.FAILED,
    )


# --- the daily digest ------------------------------------------------------------------------


def _waiting_requests() -> list[ApprovalRequest]:
    refunds = RefundRequest.objects.filter(status=RequestStatus.REQUESTED).select_related(
        "requested_by"
    )
    freezes = FreezeRequest.objects.filter(status=RequestStatus.REQUESTED).select_related(
        "requested_by"
    )
    return sorted([*refunds, *freezes], key=lambda item: item.requested_at)


def send_waiting_digest() -> int:
    """Once a day: every request still waiting, one line each, to every manager (and the webhook)."""
    waiting = _waiting_requests()
    if not waiting:
        return 0
    lines = []
    for item in waiting:
        stage = SECOND_MANAGER if _approvals_in(item) else FIRST_MANAGER
        lines.append(_notice(item, stage).text)
    subject = f"{len(waiting)} request{'s' if len(waiting) != 1 else ''} waiting for approval"
    body = subject + ":\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    recipients = _manager_addresses()
    with transaction.atomic():
        for address in recipients:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
        _record_sent(
            channel="digest",
            target_id="",
            params={"waiting": len(waiting), "recipients": len(recipients)},
        )
    if settings.APPROVAL_WEBHOOK_URL:
        # The e-mails are out: a failed post is recorded, not retried (that would mail again).
        try:
            _post_webhook(body)
        except WebhookFailed as error:
            logger.warning("approval digest webhook failed: %s", error)
            _record_sent(
                channel="digest_webhook",
                target_id="",
                params={"error": str(error)[:500]},
                outcome=Outcome.FAILED,
            )
    return len(waiting)
