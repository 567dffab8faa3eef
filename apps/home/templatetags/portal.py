"""Template filters for money and time: formatting happens only here, at the edge.

Money is an integer of minor units plus an ISO 4217 code everywhere inside
the portal; ``money`` turns it into a locale-formatted amount with the
currency's own number of decimals (JPY 0, EUR 2, KWD 3) through Babel —
never by dividing by 100. ``when`` shows a time in the viewer's timezone with
UTC on hover.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.numbers import format_currency
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html

from apps.payments.currencies import minor_units, to_major_units

register = template.Library()


@register.filter
def money(amount_cents: int | None, currency: str) -> str:
    if amount_cents is None or not currency:
        return "—"
    if minor_units(currency) is None:
        return f"{amount_cents} (minor units of unknown currency {currency})"
    return format_currency(
        to_major_units(int(amount_cents), currency),
        currency,
        locale=settings.PORTAL_LOCALE,
        currency_digits=True,
    )


@register.filter
def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    utc = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        moment.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Y-%m-%d %H:%M:%S"),
    )
