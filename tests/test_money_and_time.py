"""Amounts with each currency's exponent, locale-aware; times in the viewer's zone with UTC on hover."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.home.templatetags.portal import money, when


@pytest.mark.parametrize(
    ("cents", "currency", "locale", "expected"),
    [
        (123456, "EUR", "en_US", "€1,234.56"),
        (123456, "JPY", "en_US", "¥123,456"),
        (123456, "KWD", "en_US", "KWD123.456"),
        (-500, "USD", "en_US", "-$5.00"),
        (123456, "EUR", "de_DE", "1.234,56\xa0€"),
    ],
)
def test_money_uses_the_currency_exponent_and_the_locale(
    settings, cents, currency, locale, expected
):
    settings.PORTAL_LOCALE = locale
    assert money(cents, currency) == expected


def test_unknown_currencies_and_missing_amounts_are_said_plainly():
    assert money(None, "EUR") == "—"
    assert "unknown currency XYZ" in money(100, "XYZ")


def test_times_show_local_with_utc_on_hover():
    moment = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    with timezone.override("Asia/Tokyo"):
        html = when(moment)
    assert ">2026-11-25 07:30:00</time>" in html
    assert 'title="2026-11-24 22:30:00 UTC"' in html
    assert 'datetime="2026-11-24T22:30:00+00:00"' in html


@pytest.mark.django_db
def test_the_viewers_timezone_cookie_is_honoured_and_a_bad_one_ignored(agent_client):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.home.middleware import DisplayTimezoneMiddleware

    seen = []

    def view(request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    middleware = DisplayTimezoneMiddleware(view)
    factory = RequestFactory()
    middleware(factory.get("/", HTTP_COOKIE="portal_tz=Europe/Dublin"))
    middleware(factory.get("/", HTTP_COOKIE="portal_tz=Not/AZone"))
    assert seen == ["Europe/Dublin", "UTC"]
