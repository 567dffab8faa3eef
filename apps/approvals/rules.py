"""The rules in force for maker-checker requests, read from settings.

``REFUND_APPROVAL_THRESHOLDS`` lists, per ISO 4217 currency, the amount in
MAJOR units above which a refund needs two distinct managers::

    REFUND_APPROVAL_THRESHOLDS="EUR:1000,USD:1000,GBP:800,JPY:150000,KWD:300"

Amounts may have decimals up to the currency's exponent (``KWD:250.500``).
A refund in a currency the list does not name always needs two managers:
an unknown currency is never waved through. An empty variable means every
refund needs one manager. The rules are snapshotted into each request and
each decision so an auditor sees what applied at that moment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.payments.currencies import minor_units, to_minor_units


@dataclass(frozen=True)
class ApprovalRules:
    thresholds_minor: dict[str, int] = field(default_factory=dict)
    thresholds_configured: bool = False
    expiry_hours: int = 72
    max_auth_age_seconds: int = 900

    def required_approvals(self, *, currency: str, amount_cents: int) -> int:
        if not self.thresholds_configured:
            return 1
        threshold = self.thresholds_minor.get(currency)
        if threshold is None:
            return 2
        return 2 if amount_cents > threshold else 1

    @property
    def expiry(self) -> timedelta:
        return timedelta(hours=self.expiry_hours)

    def snapshot(self) -> dict:
        data = asdict(self)
        data["thresholds_minor"] = dict(sorted(self.thresholds_minor.items()))
        return data


def parse_thresholds(text: str) -> dict[str, int]:
    """``"EUR:1000,JPY:150000"`` → ``{"EUR": 100000, "JPY": 150000}`` (minor units)."""
    thresholds: dict[str, int] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        currency, sep, amount = item.partition(":")
        currency = currency.strip().upper()
        if not sep:
            raise ImproperlyConfigured(
                f"REFUND_APPROVAL_THRESHOLDS: {item!r} is not of the form CUR:amount."
            )
        if minor_units(currency) is None:
            raise ImproperlyConfigured(
                f"REFUND_APPROVAL_THRESHOLDS: {currency!r} is not an ISO 4217 currency."
            )
        try:
            major = Decimal(amount.strip())
        except InvalidOperation:
            raise ImproperlyConfigured(
                f"REFUND_APPROVAL_THRESHOLDS: {amount.strip()!r} is not an amount ({item!r})."
            ) from None
        minor = to_minor_units(major, currency)
        if minor is None or minor < 0:
            raise ImproperlyConfigured(
                f"REFUND_APPROVAL_THRESHOLDS: {item!r} has more decimals than {currency} allows "
                "or is negative."
            )
        thresholds[currency] = minor
    return thresholds


def current_rules() -> ApprovalRules:
    text = settings.REFUND_APPROVAL_THRESHOLDS
    return ApprovalRules(
        thresholds_minor=parse_thresholds(text),
        thresholds_configured=bool(text.strip()),
        expiry_hours=settings.APPROVAL_REQUEST_EXPIRY_HOURS,
        max_auth_age_seconds=settings.APPROVAL_MAX_AUTH_AGE_MINUTES * 60,
    )
