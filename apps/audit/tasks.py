"""Celery task: verify the action log in the background."""

from __future__ import annotations

from celery import shared_task

from apps.audit.services import Actor, verify_chain


@shared_task(ignore_result=True)
def verify_audit_chain(full: bool = False, requested_by: str = "") -> dict:
    actor = Actor.system(f"task:{requested_by}" if requested_by else "audit-verify")
    return verify_chain(full=full, actor=actor).as_dict()
