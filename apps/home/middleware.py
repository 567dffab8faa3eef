"""Show times in the viewer's timezone (from the browser, via a cookie set by static/js/portal.js)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "portal_tz"


class DisplayTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(COOKIE) or settings.PORTAL_DEFAULT_DISPLAY_TIMEZONE
        try:
            timezone.activate(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo(settings.PORTAL_DEFAULT_DISPLAY_TIMEZONE))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
