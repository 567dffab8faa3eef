"""Forms for requesting and deciding. They check what a person typed; the rules live in services.

Amounts are typed in the currency's major units ("12.50" EUR, "1200" JPY)
and converted exactly to minor units with the currency's exponent. The
form checks the amount against what is refundable *now* so the person sees
the problem while typing; ``services.request_refund`` checks it again under
a lock, which is the check that counts.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from apps.approvals.models import FreezeAction, RefundCategory
from apps.approvals.selectors import refundable_now
from apps.approvals.services import MAX_REASON_LENGTH
from apps.home.templatetags.portal import money
from apps.payments.currencies import minor_units, to_major_units, to_minor_units
from apps.payments.models import Payment


def amount_step(currency: str) -> str:
    """The ``step`` of an amount input: 1 for JPY, 0.01 for EUR, 0.001 for KWD."""
    exponent = minor_units(currency) or 0
    return str(Decimal(1).scaleb(-exponent)) if exponent else "1"


class RefundRequestForm(forms.Form):
    amount = forms.CharField(
        label="Amount to refund",
        max_length=32,
        error_messages={"required": "Type the amount to refund."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    category = forms.ChoiceField(
        label="Category",
        choices=[("", "Choose…"), *RefundCategory.choices],
        error_messages={"required": "Choose the category that fits best."},
    )
    reason = forms.CharField(
        label="Reason",
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What happened, in a sentence or two. The approving manager reads this.",
        error_messages={"required": "Give a reason for the refund."},
    )

    def __init__(self, *args, payment: Payment, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.payment = payment
        self.refundable_cents = refundable_now(payment)
        exponent = minor_units(payment.currency) or 0
        self.fields["amount"].help_text = (
            f"In {payment.currency}"
            + (f", up to {exponent} decimals" if exponent else ", whole units")
            + f". At most {self.refundable_display} can be refunded."
        )
        self.fields["amount"].widget.attrs["aria-describedby"] = "id_amount_help"

    @property
    def refundable_major(self) -> str:
        return str(to_major_units(self.refundable_cents, self.payment.currency))

    @property
    def refundable_display(self) -> str:
        return money(self.refundable_cents, self.payment.currency)

    def clean_amount(self) -> int:
        raw = (self.cleaned_data.get("amount") or "").strip().replace(" ", "").replace(",", "")
        currency = self.payment.currency
        try:
            major = Decimal(raw)
        except InvalidOperation:
            raise forms.ValidationError("Type an amount such as 12.50.", code="invalid") from None
        cents = to_minor_units(major, currency)
        if cents is None:
            exponent = minor_units(currency) or 0
            raise forms.ValidationError(
                f"{currency} amounts have {exponent or 'no'} decimal{'s' if exponent != 1 else ''}.",
                code="precision",
            )
        if cents <= 0:
            raise forms.ValidationError("The amount must be greater than zero.", code="min")
        if cents > self.refundable_cents:
            raise forms.ValidationError(
                f"At most {self.refundable_display} can be refunded: the payment amount minus "
                "what is already refunded or requested.",
                code="max",
            )
        return cents

    def clean_reason(self) -> str:
        reason = " ".join((self.cleaned_data.get("reason") or "").split())
        if not reason:
            raise forms.ValidationError("Give a reason for the refund.", code="required")
        return reason


class FreezeRequestForm(forms.Form):
    action = forms.ChoiceField(choices=FreezeAction.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason",
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason."},
    )

    def clean_reason(self) -> str:
        reason = " ".join((self.cleaned_data.get("reason") or "").split())
        if not reason:
            raise forms.ValidationError("Give a reason.", code="required")
        return reason


class DecisionForm(forms.Form):
    comment = forms.CharField(
        label="Comment",
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with your decision in the action log.",
        error_messages={"required": "Add a comment to your decision."},
    )

    def clean_comment(self) -> str:
        comment = " ".join((self.cleaned_data.get("comment") or "").split())
        if not comment:
            raise forms.ValidationError("Add a comment to your decision.", code="required")
        return comment
