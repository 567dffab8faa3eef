"""Reads about the signed-in person's session."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpRequest
from django.utils import timezone

from apps.identity.services import AUTH_TIME_KEY, GROUPS_CLAIM_MISSING_KEY


def authenticated_at(request: HttpRequest) -> datetime | None:
    """When this session last signed in through the IdP."""
    raw = request.session.get(AUTH_TIME_KEY)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def recent_sign_in(request: HttpRequest, max_age_seconds: int) -> bool:
    moment = authenticated_at(request)
    return moment is not None and timezone.now() - moment <= timedelta(seconds=max_age_seconds)


def groups_claim_missing(request: HttpRequest) -> bool:
    """The IdP sent no groups claim at all at this session's sign-in (not merely an empty list)."""
    return bool(request.session.get(GROUPS_CLAIM_MISSING_KEY))
