"""Celery tasks for maker-checker requests. Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.approvals import selectors, services


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
