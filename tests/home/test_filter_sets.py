"""The portal's filter sets are built cheaply (shallow copies, one form class) and stay per request."""

from __future__ import annotations

from django.http import QueryDict

from apps.home.tables import StatusBadges
from apps.payments.filters import PaymentFilter
from apps.payments.models import Payment, PaymentStatus


def test_each_filter_set_has_its_own_filters_bound_to_itself():
    first = PaymentFilter(QueryDict("currency=EUR"), queryset=Payment.objects.all())
    second = PaymentFilter(QueryDict("currency=JPY"), queryset=Payment.objects.all())
    for name in first.filters:
        assert first.filters[name] is not second.filters[name]
        assert first.filters[name] is not PaymentFilter.base_filters[name]
        assert first.filters[name].parent is first
        assert second.filters[name].parent is second
    # a method filter calls its own filter set's method (not the class's, nor the other's)
    assert first.filters["currency"].filter.f is first.filters["currency"]
    assert getattr(PaymentFilter.base_filters["currency"], "parent", None) is None
    assert str(first.qs.query).endswith('"currency" = EUR')
    assert str(second.qs.query).endswith('"currency" = JPY')


def test_the_form_class_is_built_once_but_each_form_is_its_own():
    first = PaymentFilter(QueryDict("status=failed"), queryset=Payment.objects.all())
    second = PaymentFilter(QueryDict("status=settled"), queryset=Payment.objects.all())
    assert type(first.form) is type(second.form)
    assert first.form is not second.form
    assert first.form.fields["status"] is not second.form.fields["status"]
    assert first.is_valid()
    assert second.is_valid()
    assert first.form.cleaned_data["status"] == "failed"
    assert second.form.cleaned_data["status"] == "settled"


def test_status_badges_show_the_choice_label_and_a_neutral_badge_for_an_unknown_value():
    badges = StatusBadges({"failed": "bad"}, PaymentStatus.choices)
    assert badges["failed"] == '<span class="badge badge--bad">Failed</span>'
    assert badges["settled"] == '<span class="badge badge--neutral">Settled</span>'
    assert badges["<new>"] == '<span class="badge badge--neutral">&lt;new&gt;</span>'
