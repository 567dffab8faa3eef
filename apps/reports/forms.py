"""The reports page's forms: ask for a report, keep a schedule. They parse; services decide."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from apps.payments.models import PaymentStatus
from apps.reports.errors import ReportError
from apps.reports.models import Frequency, ReportKind
from apps.reports.parameters import ReportParameters
from apps.reports.selectors import kinds_for_user

# Which form field a ReportError's field names.
FIELD_OF_ERROR = {"start": "first_day", "end": "last_day", "timezone": "first_day"}


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


def _codes(raw: str) -> list[str]:
    return [code.strip().upper() for code in raw.replace(";", ",").split(",") if code.strip()]


class _FiltersMixin(forms.Form):
    statuses = forms.MultipleChoiceField(
        choices=PaymentStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Payment statuses",
        help_text="Payments report only; none ticked means every status.",
    )
    currencies = forms.CharField(
        required=False,
        max_length=200,
        label="Currencies",
        help_text="ISO codes separated by commas, e.g. EUR, USD; empty means every currency.",
    )
    xlsx = forms.BooleanField(required=False, label="Also as Excel (XLSX)")

    def clean_currencies(self) -> list[str]:
        return _codes(self.cleaned_data.get("currencies", ""))

    def _kinds(self, user: Any) -> list[tuple[str, str]]:
        return [(kind, ReportKind(kind).label) for kind in kinds_for_user(user)]


class ReportRequestForm(_FiltersMixin):
    kind = forms.ChoiceField(label="Report")
    first_day = forms.DateField(label="From", widget=DateInput)
    last_day = forms.DateField(label="To (included)", widget=DateInput)
    field_order = ["kind", "first_day", "last_day", "statuses", "currencies", "xlsx"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        yesterday = timezone.localdate() - timedelta(days=1)
        kwargs.setdefault("initial", {"first_day": yesterday, "last_day": yesterday})
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = self._kinds(user)
        self.timezone_name = timezone.get_current_timezone_name()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, last = data.get("first_day"), data.get("last_day")
        if not (data.get("kind") and isinstance(first, date) and isinstance(last, date)):
            return data
        try:
            data["parameters"] = ReportParameters.for_days(
                kind=data["kind"],
                first_day=first,
                last_day=last,
                timezone=self.timezone_name,
                statuses=data.get("statuses", []),
                currencies=data.get("currencies", []),
            )
        except ReportError as error:
            self.add_error(FIELD_OF_ERROR.get(error.field or "", error.field), error.message)
        return data


class ScheduleForm(_FiltersMixin):
    name = forms.CharField(max_length=80, label="Name", help_text="e.g. Refunds of yesterday")
    kind = forms.ChoiceField(label="Report")
    frequency = forms.ChoiceField(choices=Frequency.choices, label="Runs")
    time_of_day = forms.TimeField(label="At", widget=TimeInput, initial=time(6, 0))
    field_order = ["name", "kind", "frequency", "time_of_day", "statuses", "currencies", "xlsx"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            choice for choice in self._kinds(user) if choice[0] != ReportKind.ACTION_LOG
        ]
        self.timezone_name = timezone.get_current_timezone_name()
        self.fields["time_of_day"].help_text = f"Time in {self.timezone_name}."

    def add_service_error(self, error: ReportError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.message)
