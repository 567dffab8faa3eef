"""Temporary: ISO 4217 minor units (to be unified with the shared money module on merge)."""

from __future__ import annotations

from decimal import Decimal

_EXPONENTS = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CZK": 2,
    "HUF": 2,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
}


def minor_units(currency: str) -> int | None:
    return _EXPONENTS.get(currency)


def to_minor_units(major: Decimal, currency: str) -> int | None:
    exponent = minor_units(currency)
    if exponent is None:
        return None
    scaled = major.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)
