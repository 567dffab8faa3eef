"""Template filters for money and time: formatting happens only here, at the edge.

Money is an integer of minor units plus an ISO 4217 code everywhere inside
the portal; ``money`` turns it into a locale-formatted amount with the
currency's own number of decimals (JPY 0, EUR 2, KWD 3) through Babel —
never by dividing by 100. ``when`` shows a time in the viewer's timezone with
UTC on hover.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_decimal_symbol, get_group_symbol
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.safestring import mark_safe

from apps.payments.currencies import minor_units, to_major_units

register = template.Library()


@register.filter
def money(amount_cents: int | None, currency: str) -> str:
    if amount_cents is None or not currency:
        return "—"
    if minor_units(currency) is None:
        return f"{amount_cents} (minor units of unknown currency {currency})"
    shape = _money_shape(currency, settings.PORTAL_LOCALE)
    if shape is not None:
        return _apply_shape(shape, int(amount_cents), minor_units(currency))
    return _babel_money(int(amount_cents), currency, settings.PORTAL_LOCALE)


def _babel_money(amount_cents: int, currency: str, locale: str) -> str:
    return format_currency(
        to_major_units(amount_cents, currency), currency, locale=locale, currency_digits=True
    )


# Babel formats one amount in ~30 µs: on a 50-row list, more than the rest of the row. The
# shape of a currency's amounts in a locale (symbol and sign placement, separators) is
# taken from Babel once, and every amount is then laid out with integer arithmetic. A
# shape is used only if it reproduces Babel exactly on probe amounts; otherwise Babel
# formats every amount of that currency.
_Shape = tuple[str, str, str, str, str, str]  # prefix, suffix, -prefix, -suffix, decimal, group


@lru_cache(maxsize=1024)
def _money_shape(currency: str, locale: str) -> _Shape | None:
    exponent = minor_units(currency) or 0
    if Locale.parse(locale).currency_formats["standard"].grouping != (3, 3):
        return None
    one = "1" + (get_decimal_symbol(locale) + "0" * exponent if exponent else "")
    positive = _babel_money(10**exponent, currency, locale).partition(one)
    negative = _babel_money(-(10**exponent), currency, locale).partition(one)
    if not positive[1] or not negative[1]:
        return None
    shape = (
        positive[0],
        positive[2],
        negative[0],
        negative[2],
        get_decimal_symbol(locale),
        get_group_symbol(locale),
    )
    probes = (0, 7, 10**exponent - 1, 123456789012, -98765432101, 1000 * 10**exponent)
    if any(_apply_shape(shape, p, exponent) != _babel_money(p, currency, locale) for p in probes):
        return None
    return shape


def _apply_shape(shape: _Shape, amount: int, exponent: int) -> str:
    prefix, suffix, negative_prefix, negative_suffix, decimal, group = shape
    if amount < 0:
        prefix, suffix = negative_prefix, negative_suffix
    whole, fraction = divmod(abs(amount), 10**exponent)
    number = f"{whole:,}".replace(",", group)
    if exponent:
        number = f"{number}{decimal}{fraction:0{exponent}d}"
    return f"{prefix}{number}{suffix}"


@register.filter
def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    utc = moment.astimezone(UTC)
    # Digits, dashes, colons and a "+" only: nothing to escape (format_html cost ~10 % of a list).
    # isoformat(" ", "seconds") is strftime's "%Y-%m-%d %H:%M:%S" plus the offset, twice as fast.
    return mark_safe(  # noqa: S308
        f'<time datetime="{moment.isoformat()}" title="{utc.isoformat(" ", "seconds")[:19]} UTC">'
        f"{local.isoformat(' ', 'seconds')[:19]}</time>"
    )
