"""ISO 4217 currencies and their minor-unit exponents.

A fixed table, not a query: the event intake validates every currency
against it, list filters offer it as choices (never ``SELECT DISTINCT`` over a
big table), and amounts entered in major units are converted with it. Money
is an integer count of minor units everywhere inside the portal.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
}

# The currencies people pick most often come first in filter lists.
COMMON = ("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "JPY", "KWD")


def is_currency(code: str) -> bool:
    return code in EXPONENTS


def minor_units(code: str) -> int | None:
    """The exponent of ``code`` (JPY 0, EUR 2, KWD 3), or None for an unknown code."""
    return EXPONENTS.get(code)


def to_minor_units(major: Decimal, code: str) -> int | None:
    """``Decimal("12.5")`` EUR → 1250. None if the currency is unknown or the amount has
    more decimals than the currency allows (a KWD amount of 1.2345 is not a KWD amount)."""
    exponent = minor_units(code)
    if exponent is None or not major.is_finite():
        return None
    scaled = major.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def to_major_units(minor: int, code: str) -> Decimal:
    """1250 EUR → ``Decimal("12.50")``; exact, never a float."""
    exponent = minor_units(code)
    if exponent is None:
        raise ValueError(f"unknown currency {code!r}")
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


@cache
def choices() -> tuple[tuple[str, str], ...]:
    """Filter choices, common codes first. Forms take the function itself (``choices=choices``):
    a callable is not deep-copied with every filter set and form, 166 pairs each time."""
    ordered = list(COMMON) + sorted(set(EXPONENTS) - set(COMMON))
    return tuple((code, code) for code in ordered)
