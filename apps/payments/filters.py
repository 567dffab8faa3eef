"""The payments list's filters: validated by django-filter, applied with index-friendly queries."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.functions import Collate
from django.db.models.lookups import StartsWith

from apps.home.filters import CreatedRangeFilterSet
from apps.home.widgets import QuickNumberInput, QuickSelect, QuickTextInput
from apps.payments.currencies import EXPONENTS, choices
from apps.payments.models import Payment, PaymentStatus

# The merchant reference in the C collation: what the payment_reference index holds and sorts by.
REFERENCE = Collate("merchant_reference", "C")
HEX_PREFIX = re.compile(r"^[0-9a-fA-F-]{4,36}$")


def uuid_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """A UUID prefix as a range of the primary key (so the btree index is used, not a scan)."""
    digits = text.replace("-", "").lower()
    if not HEX_PREFIX.match(text) or not digits or len(digits) > 32:
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def is_reference_search(text: str | None) -> bool:
    """A payments search that is not an id (full or prefix): a merchant-reference prefix."""
    text = (text or "").strip()
    return bool(text) and search_q(text, id_field="payment_id") is None


def search_q(text: str, *, id_field: str, extra_id_fields: tuple[str, ...] = ()) -> Q | None:
    """Ids (full or prefix) first; None when the text is not an id."""
    text = text.strip()
    try:
        exact = uuid.UUID(text)
    except ValueError:
        exact = None
    if exact is not None:
        condition = Q(**{id_field: exact})
        for field in extra_id_fields:
            condition |= Q(**{field: exact})
        return condition
    bounds = uuid_range(text)
    if bounds is not None:
        return Q(**{f"{id_field}__range": bounds})
    return None


def amount_q(field: str, lookup: str, major: Decimal, currency: str | None) -> Q:
    """An amount in MAJOR units, compared in each row's own minor units (JPY 0, EUR 2, KWD 3)."""
    if currency:
        return Q(
            **{f"{field}__{lookup}": int(major.scaleb(EXPONENTS[currency]).to_integral_value())}
        )
    by_exponent: dict[int, list[str]] = {}
    for code, exponent in EXPONENTS.items():
        by_exponent.setdefault(exponent, []).append(code)
    condition = Q()
    for exponent, codes in by_exponent.items():
        minor = int(major.scaleb(exponent).to_integral_value())
        condition |= Q(currency__in=codes, **{f"{field}__{lookup}": minor})
    return condition


class PaymentFilter(CreatedRangeFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=QuickTextInput(
            attrs={
                "placeholder": "Payment id (or its start), account id, merchant reference",
                "type": "search",
            }
        ),
    )
    status = django_filters.ChoiceFilter(
        choices=PaymentStatus.choices, empty_label="Any status", widget=QuickSelect
    )
    currency = django_filters.ChoiceFilter(
        choices=choices, empty_label="Any currency", method="filter_currency", widget=QuickSelect
    )
    amount_min = django_filters.NumberFilter(
        method="filter_amount_min", label="Amount from", min_value=0, widget=QuickNumberInput
    )
    amount_max = django_filters.NumberFilter(
        method="filter_amount_max", label="Amount to", min_value=0, widget=QuickNumberInput
    )
    account = django_filters.UUIDFilter(
        field_name="account_id", label="Account id", widget=QuickTextInput
    )

    class Meta:
        model = Payment
        fields = [
            "q",
            "status",
            "currency",
            "created_from",
            "created_to",
            "amount_min",
            "amount_max",
            "account",
        ]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = search_q(value, id_field="payment_id", extra_id_fields=("account_id",))
        if condition is None:
            # The same expression as the payment_reference index, so the prefix is a range scan.
            return queryset.filter(StartsWith(REFERENCE, value.strip()))
        return queryset.filter(condition)

    def filter_currency(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(currency=value)

    def filter_amount_min(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(
            amount_q("amount_cents", "gte", value, self.form.cleaned_data.get("currency") or None)
        )

    def filter_amount_max(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(
            amount_q("amount_cents", "lte", value, self.form.cleaned_data.get("currency") or None)
        )
