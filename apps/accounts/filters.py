"""The accounts list's filters and search."""

from __future__ import annotations

from datetime import datetime, time

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Account, AccountStatus
from apps.home.widgets import QuickSelect
from apps.payments.currencies import choices
from apps.payments.filters import search_q


class AccountFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(
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
        choices=choices(), empty_label="Any currency", widget=QuickSelect
    )
    created_from = django_filters.DateFilter(
        method="filter_created_from",
        label="Created from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_to = django_filters.DateFilter(
        method="filter_created_to",
        label="Created to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Account
        fields = ["q", "status", "currency", "created_from", "created_to"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = search_q(value, id_field="account_id", extra_id_fields=("owner_id",))
        if condition is None:
            text = value.strip()
            # Email prefix uses the btree index; names match anywhere through the trigram index.
            condition = Q(owner_email__istartswith=text) | Q(owner_name__icontains=text)
        return queryset.filter(condition)

    def filter_created_from(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(
            created_at__gte=timezone.make_aware(datetime.combine(value, time.min))
        )

    def filter_created_to(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(
            created_at__lte=timezone.make_aware(datetime.combine(value, time.max))
        )
