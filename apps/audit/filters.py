"""The action log's filters: actor, action, target, outcome, dates; search by target or request id."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from apps.audit.models import AuditEntry
from apps.audit.services import Outcome
from apps.home.filters import CreatedRangeFilterSet
from apps.home.widgets import QuickSelect


class AuditEntryFilter(CreatedRangeFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "Target id (payment, request…) or request id", "type": "search"}
        ),
    )
    actor = django_filters.CharFilter(
        field_name="actor_name", lookup_expr="istartswith", label="Actor"
    )
    action = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", label="Action (e.g. refund.)"
    )
    target_type = django_filters.CharFilter(field_name="target_type", label="Target type")
    outcome = django_filters.ChoiceFilter(
        choices=Outcome.choices, empty_label="Any outcome", widget=QuickSelect
    )

    class Meta:
        model = AuditEntry
        fields = ["q", "actor", "action", "target_type", "outcome", "created_from", "created_to"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        # An entry about a payment may name it as target or in its parameters (a refund request's payment).
        return queryset.filter(
            Q(target_id=text)
            | Q(request_id=text)
            | Q(params__payment_id=text)
            | Q(params__account_id=text)
        )
