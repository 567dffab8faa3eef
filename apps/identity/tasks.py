"""Housekeeping for sign-in sessions."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(ignore_result=True)
def clear_expired_sessions() -> None:
    """Delete expired sessions (Django's ``clearsessions``) and what the portal kept of them.

    Beat runs it nightly.
    """
    from apps.identity.services import forget_ended_sessions

    call_command("clearsessions")
    forget_ended_sessions()
