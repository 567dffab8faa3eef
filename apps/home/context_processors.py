"""Context every page of the shell needs: navigation, environment label."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from apps.home.navigation import entries_for


def shell(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "nav_entries": entries_for(user, request.path) if signed_in else [],
        "portal_environment": settings.PORTAL_ENVIRONMENT,
        "sign_out_url": _sign_out_url() if signed_in else None,
    }


def _sign_out_url() -> str | None:
    try:
        return reverse("account_logout")
    except NoReverseMatch:
        return None
