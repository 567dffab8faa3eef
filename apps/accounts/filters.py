"""The accounts list's filters and search."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from apps.accounts.models import Account, AccountStatus
from apps.home.filters import CreatedRangeFilterSet
from apps.home.widgets import QuickSelect, QuickTextInput
from apps.payments.currencies import choices
from apps.payments.filters import search_q


class AccountFilter(CreatedRangeFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=QuickTextInput(
            attrs={
                "placeholder": "Account id (or its start), owner email or name",
                "type": "search",
            }
        ),
    )
    status = django_filters.ChoiceFilter(
        choices=AccountStatus.choices, empty_label="Any status", widget=QuickSelect
    )
    currency = django_filters.ChoiceFilter(
        choices=choices, empty_label="Any currency", widget=QuickSelect
    )

    class Meta:
        model = Account
        fields = ["q", "status", "currency", "created_from", "created_to"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = search_q(value, id_field="account_id", extra_id_fields=("owner_id",))
        if condition is None:
            text = value.strip()
            # Both prefixes use their functional btree indexes (UPPER(column) LIKE 'TEXT%').
            condition = Q(owner_email__istartswith=text) | Q(owner_name__istartswith=text)
        return queryset.filter(condition)
