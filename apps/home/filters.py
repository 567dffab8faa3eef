"""Filters every list shares: the creation date range."""

from __future__ import annotations

from datetime import date, datetime, time

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from apps.home.widgets import QuickDateInput


class CreatedRangeFilterSet(django_filters.FilterSet):
    """``created_from`` / ``created_to`` as whole days in the viewer's timezone."""

    created_from = django_filters.DateFilter(
        method="filter_created_from",
        label="Created from",
        widget=QuickDateInput(attrs={"type": "date"}),
    )
    created_to = django_filters.DateFilter(
        method="filter_created_to",
        label="Created to",
        widget=QuickDateInput(attrs={"type": "date"}),
    )

    def filter_created_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(
            created_at__gte=timezone.make_aware(datetime.combine(value, time.min))
        )

    def filter_created_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(
            created_at__lte=timezone.make_aware(datetime.combine(value, time.max))
        )
