"""Session hygiene: an idle timeout, an absolute lifetime, and roles re-read from the IdP.

The role re-check costs nothing on most requests: the time of the last check
is in the session, and only the first request after
``PORTAL_ROLE_RECHECK_MINUTES`` asks the IdP (``services.recheck_roles``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.identity import services
from apps.identity.oidc import silent_sign_in
from apps.identity.selectors import authenticated_at

LAST_SEEN_KEY = "portal_last_seen"
SIGN_IN_FLOW = "/accounts/oidc/"


class SessionLifetimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._enforce(request)
        if request.user.is_authenticated:
            response = self._recheck_roles(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _recheck_roles(self, request: HttpRequest) -> HttpResponse | None:
        if request.path.startswith(SIGN_IN_FLOW):
            return None  # a sign-in under way reads the roles itself
        last = _parse(request.session.get(services.ROLES_CHECKED_KEY))
        interval = timedelta(minutes=settings.PORTAL_ROLE_RECHECK_MINUTES)
        if last is not None and timezone.now() - last < interval:
            return None
        outcome = services.recheck_roles(request=request)
        if outcome is services.RecheckOutcome.KEPT:
            return None
        if outcome is services.RecheckOutcome.ENDED:
            logout(request)
            messages.info(request, "Your access was ended by your identity provider.")
            return None
        request.sign_out_reason = "session ended: roles must be read again by a new sign-in"
        logout(request)
        is_htmx = request.headers.get("HX-Request") == "true"
        if request.method == "GET" and not is_htmx and _sso_configured():
            # prompt=none: back at once, signed in again, if the IdP session is still valid.
            return silent_sign_in(request, next_url=request.get_full_path())
        return None

    def _enforce(self, request: HttpRequest) -> None:
        now = timezone.now()
        idle = timedelta(minutes=settings.PORTAL_SESSION_IDLE_MINUTES)
        lifetime = timedelta(hours=settings.PORTAL_SESSION_MAX_HOURS)
        last_seen = _parse(request.session.get(LAST_SEEN_KEY))
        signed_in = authenticated_at(request)
        reason = notice = ""
        if last_seen is not None and now - last_seen > idle:
            minutes = settings.PORTAL_SESSION_IDLE_MINUTES
            reason = f"idle for more than {minutes} minutes"
            notice = f"You were signed out after {minutes} minutes without activity."
        elif signed_in is not None and now - signed_in > lifetime:
            hours = settings.PORTAL_SESSION_MAX_HOURS
            reason = f"older than {hours} hours"
            notice = f"Your session reached its {hours}-hour limit. Please sign in again."
        if reason:
            request.sign_out_reason = f"session ended: {reason}"
            logout(request)
            messages.info(request, notice)
            return
        # Written at most once a minute, so a page full of htmx polling does not rewrite the session.
        if last_seen is None or now - last_seen > timedelta(minutes=1):
            request.session[LAST_SEEN_KEY] = now.isoformat()


def _sso_configured() -> bool:
    return bool(settings.SOCIALACCOUNT_PROVIDERS)


def _parse(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
