"""Filters every list shares: the creation date range, and a filter set that is cheap to build."""

from __future__ import annotations

import copy
from datetime import date, datetime, time

import django_filters
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from apps.home.widgets import QuickDateInput


class PortalFilterSet(django_filters.FilterSet):
    """A django-filter filter set built for a page in microseconds, not milliseconds.

    django-filter deep-copies every declared filter for each filter set (the
    currency filter's 166 choices among them) and then builds a new form class
    with new fields from them; on a list page that was ≈ 4 % of the request
    (docs/lists.md). A filter's per-request state is only its ``parent``, ``model``
    and the binding of its ``method``, so a shallow copy is enough, and the form class depends only on
    the declared filters, so it is built once per filter set class (Django's
    form deep-copies its fields for each form, as always).
    """

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: copy.copy(f) for name, f in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self
            if filter_.method is not None:
                # A filter method is bound to its filter: bind it to the copy (whose parent is set).
                filter_.method = filter_.method

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class


class CreatedRangeFilterSet(PortalFilterSet):
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
