"""Small presentation helpers for maker-checker requests."""

from __future__ import annotations

from django import template

from apps.approvals.models import OPEN_STATUSES

register = template.Library()

STATUS_BADGES = {
    "requested": "warn",
    "approved": "info",
    "submitted": "info",
    "succeeded": "ok",
    "failed": "bad",
    "rejected": "bad",
    "cancelled": "neutral",
    "expired": "neutral",
}


@register.filter
def request_badge(status: str) -> str:
    """The badge colour of a request status."""
    return STATUS_BADGES.get(status, "neutral")


@register.filter
def any_open(requests) -> bool:
    """Whether any of these requests can still change (the page keeps polling while so)."""
    return any(item.status in OPEN_STATUSES for item in requests)
