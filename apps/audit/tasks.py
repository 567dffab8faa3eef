"""Celery tasks: verify the action log, and sign its digests, in the background."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.audit.services import Actor, verify_chain, write_digest
from apps.audit.signing import DigestsOff

logger = logging.getLogger("portal.audit")


@shared_task(ignore_result=True)
def verify_audit_chain(full: bool = False, requested_by: str = "") -> dict:
    actor = Actor.system(f"task:{requested_by}" if requested_by else "audit-verify")
    return verify_chain(full=full, actor=actor).as_dict()


@shared_task(ignore_result=True)
def write_audit_digest() -> int | None:
    """Beat sends this every AUDIT_DIGEST_MINUTES; the digest's number, or None when digests are off."""
    try:
        return write_digest(actor=Actor.system("audit-digest")).number
    except DigestsOff as off:
        logger.warning("%s", off)
        return None
