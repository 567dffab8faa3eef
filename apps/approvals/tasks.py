"""Celery tasks for maker-checker requests. Thin: each calls one service."""

from __future__ import annotations

from celery import Task, shared_task

from apps.approvals import selectors, services
from apps.approvals.services import notifying


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def send_outbound_call(self, call_id: int) -> str:
    """Send one queued Go call; a transient failure is retried with backoff, same key."""
    outcome = services.perform_outbound_call(call_id=call_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def dispatch_due_calls() -> int:
    """Safety net (beat, every few seconds): calls whose task was lost are sent again."""
    due = selectors.due_outbound_calls()
    for call_id in due:
        send_outbound_call.delay(call_id)
    return len(due)


@shared_task(ignore_result=True)
def expire_overdue_requests() -> int:
    return services.expire_overdue_requests()


# --- telling managers (apps.approvals.services.notifying) -----------------------------------------

NOTIFY_RETRIES = 5


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=NOTIFY_RETRIES)
def send_waiting_email(self, kind: str, request_id: str, stage: str) -> int:
    """E-mail the managers that a request waits; an unreachable mail server is retried."""
    try:
        return notifying.send_waiting_email(kind=kind, request_id=request_id, stage=stage)
    except OSError as error:  # smtplib's errors are OSErrors too
        return _retry_or_give_up(self, "email", kind, request_id, stage, error) or 0


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=NOTIFY_RETRIES)
def send_waiting_webhook(self, kind: str, request_id: str, stage: str) -> bool:
    """Post to APPROVAL_WEBHOOK_URL; retried with backoff, the last failure recorded."""
    try:
        return notifying.send_waiting_webhook(kind=kind, request_id=request_id, stage=stage)
    except notifying.WebhookFailed as error:
        return bool(_retry_or_give_up(self, "webhook", kind, request_id, stage, error))


def _retry_or_give_up(
    task: Task, channel: str, kind: str, request_id: str, stage: str, error: Exception
) -> None:
    """Retry with backoff (same notice); after the last retry, record that it was given up."""
    if task.request.retries >= task.max_retries:
        notifying.record_notice_given_up(
            channel=channel, kind=kind, request_id=request_id, stage=stage, error=str(error)
        )
        return None
    raise task.retry(countdown=min(2**task.request.retries, 300)) from error


@shared_task(ignore_result=True)
def send_waiting_digest() -> int:
    """Beat, daily at APPROVAL_DIGEST_TIME: what still waits, to every manager."""
    return notifying.send_waiting_digest()
