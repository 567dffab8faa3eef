"""Context every page of the shell needs: navigation, environment label."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from apps.home.freshness import intake_freshness
from apps.home.navigation import entries_for


def shell(request: HttpRequest) -> dict:
    """Lazy values: an htmx fragment that shows no shell runs none of their queries."""
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "intake_lag": SimpleLazyObject(_intake_lag) if signed_in and user.roles else None,
        "nav_entries": SimpleLazyObject(lambda: entries_for(user, request.path))
        if signed_in
        else [],
        "portal_environment": settings.PORTAL_ENVIRONMENT,
        "sign_out_url": _sign_out_url() if signed_in else None,
    }


def _intake_lag() -> str | None:
    """How far behind the read models may be, in words, when beyond PORTAL_FRESHNESS_WARN_SECONDS."""
    freshness = intake_freshness()
    if freshness.consumer_seen_at is None:
        return None  # no consumer has ever run (a fresh install): nothing to compare with
    if not freshness.is_lagging(settings.PORTAL_FRESHNESS_WARN_SECONDS):
        return None
    seconds = int(freshness.lag_seconds() or 0)
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"


def _sign_out_url() -> str | None:
    try:
        return reverse("account_logout")
    except NoReverseMatch:
        return None
