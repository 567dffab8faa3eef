"""Session hygiene: an idle timeout and an absolute lifetime, whatever the cookie says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.identity.selectors import authenticated_at

LAST_SEEN_KEY = "portal_last_seen"


class SessionLifetimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._enforce(request)
        return self.get_response(request)

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


def _parse(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
