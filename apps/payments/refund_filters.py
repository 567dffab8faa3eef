"""The refunds list's filters and search."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import Q, QuerySet

from apps.home.filters import CreatedRangeFilterSet
from apps.home.widgets import QuickSelect, QuickTextInput
from apps.payments.currencies import choices
from apps.payments.filters import amount_q, search_q
from apps.payments.models import Refund, RefundStatus


class RefundFilter(CreatedRangeFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=QuickTextInput(
            attrs={
                "placeholder": "Refund or payment id (or its start), portal reference",
                "type": "search",
            }
        ),
    )
    status = django_filters.ChoiceFilter(
        choices=RefundStatus.choices, empty_label="Any status", widget=QuickSelect
    )
    currency = django_filters.ChoiceFilter(
        choices=choices, empty_label="Any currency", widget=QuickSelect
    )
    amount_min = django_filters.NumberFilter(
        method="filter_amount_min", label="Amount from", min_value=0
    )
    amount_max = django_filters.NumberFilter(
        method="filter_amount_max", label="Amount to", min_value=0
    )

    class Meta:
        model = Refund
        fields = [
            "q",
            "status",
            "currency",
            "created_from",
            "created_to",
            "amount_min",
            "amount_max",
        ]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = search_q(value, id_field="refund_id", extra_id_fields=("payment_id",))
        if condition is None:
            condition = Q(reference=value.strip())
        else:
            condition |= Q(reference=value.strip())
        return queryset.filter(condition)

    def filter_amount_min(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(
            amount_q("amount_cents", "gte", value, self.form.cleaned_data.get("currency") or None)
        )

    def filter_amount_max(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(
            amount_q("amount_cents", "lte", value, self.form.cleaned_data.get("currency") or None)
        )
