"""The payments table (django-tables2): columns and how each cell reads."""

from __future__ import annotations

import django_tables2 as tables

from apps.home.tables import PortalTable, StatusBadges, detail_url, id_link
from apps.home.templatetags.portal import money, when
from apps.payments.models import PaymentStatus, RefundStatus

STATUS_BADGES = StatusBadges(
    {
        "settled": "ok",
        "authorized": "info",
        "pending": "neutral",
        "failed": "bad",
        "refunded": "warn",
        "partially_refunded": "warn",
    },
    PaymentStatus.choices,
)


class PaymentTable(PortalTable):
    numeric = frozenset({"amount_cents", "refunded_cents"})

    def row_href(self, record) -> str:
        return detail_url("payments:detail", record.payment_id)

    payment_id = tables.Column(verbose_name="Payment", orderable=False)
    created_at = tables.Column(verbose_name="Created", orderable=False)
    owner = tables.Column(
        verbose_name="Account owner",
        accessor="account__owner_name",
        orderable=False,
        default="not synced yet",
    )
    amount_cents = tables.Column(
        verbose_name="Amount",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    refunded_cents = tables.Column(
        verbose_name="Refunded",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    status = tables.Column(verbose_name="Status", orderable=False)
    merchant_reference = tables.Column(verbose_name="Merchant reference", orderable=False)

    class Meta:
        template_name = "components/table.html"
        attrs = {"class": "data-table"}

    def render_payment_id(self, value, record):
        return id_link(detail_url("payments:detail", value), value)

    def render_created_at(self, value, record):
        return when(value)

    def render_amount_cents(self, value, record):
        return money(value, record.currency)

    def render_refunded_cents(self, value, record):
        return money(value, record.currency) if value else "—"

    def render_status(self, value, record):
        return STATUS_BADGES[value]


REFUND_BADGES = StatusBadges(
    {"pending": "info", "succeeded": "ok", "failed": "bad"}, RefundStatus.choices
)


class RefundTable(PortalTable):
    numeric = frozenset({"amount_cents"})

    def row_href(self, record) -> str:
        return detail_url("payments:refund_detail", record.refund_id)

    refund_id = tables.Column(verbose_name="Refund", orderable=False)
    created_at = tables.Column(verbose_name="Created", orderable=False)
    payment_id = tables.Column(verbose_name="Payment", accessor="payment_id", orderable=False)
    amount_cents = tables.Column(
        verbose_name="Amount",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    status = tables.Column(verbose_name="Status", orderable=False)
    failure_reason = tables.Column(verbose_name="Failure reason", orderable=False, default="—")
    reference = tables.Column(verbose_name="Portal reference", orderable=False, default="—")

    class Meta:
        template_name = "components/table.html"
        attrs = {"class": "data-table"}

    def render_refund_id(self, value, record):
        return id_link(detail_url("payments:refund_detail", value), value)

    def render_payment_id(self, value, record):
        return id_link(detail_url("payments:detail", value), value)

    def render_created_at(self, value, record):
        return when(value)

    def render_amount_cents(self, value, record):
        return money(value, record.currency)

    def render_status(self, value, record):
        return REFUND_BADGES[value]
