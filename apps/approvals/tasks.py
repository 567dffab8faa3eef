"""Celery tasks for maker-checker requests. Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.approvals import notifications, selectors, services


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


# --- telling managers (apps.approvals.notifications) -----------------------------------------

NOTIFY_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=NOTIFY_RETRIES,
)
def send_waiting_email(self, kind: str, request_id: str, stage: str) -> int:
    """E-mail the managers that a request waits (an unreachable mail server is retried)."""
    return notifications.send_waiting_email(kind=kind, request_id=request_id, stage=stage)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=NOTIFY_RETRIES)
def send_waiting_webhook(self, kind: str, request_id: str, stage: str) -> bool:
    """Post to APPROVAL_WEBHOOK_URL; retried with backoff, the last failure recorded."""
    try:
        return notifications.send_waiting_webhook(kind=kind, request_id=request_id, stage=stage)
    except notifications.WebhookFailed as error:
        if self.request.retries >= self.max_retries:
            notifications.record_webhook_given_up(
                kind=kind, request_id=request_id, stage=stage, error=str(error)
            )
            return False
        raise self.retry(countdown=min(2**self.request.retries, 300)) from error


@shared_task(ignore_result=True)
def send_waiting_digest() -> int:
    """Beat, daily at APPROVAL_DIGEST_TIME: what still waits, to every manager."""
    return notifications.send_waiting_digest()
