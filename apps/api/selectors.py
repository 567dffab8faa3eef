"""Reads the API needs beyond those of the domain apps."""

from __future__ import annotations

import uuid

from apps.approvals.models import RefundRequest


def refund_request_by_reference(reference: uuid.UUID) -> RefundRequest | None:
    """The portal sends a request's id as ``reference``; services ask by it."""
    return RefundRequest.objects.filter(pk=reference).first()
