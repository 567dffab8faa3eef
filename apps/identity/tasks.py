"""Housekeeping for sign-in sessions."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(ignore_result=True)
def clear_expired_sessions() -> None:
    """Delete expired sessions (Django's ``clearsessions``); beat runs it nightly."""
    call_command("clearsessions")
