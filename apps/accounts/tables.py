"""The accounts table."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from apps.home.tables import PortalTable
from apps.home.templatetags.portal import money, when

STATUS_BADGES = {"active": "ok", "frozen": "warn", "closed": "neutral"}


class AccountTable(PortalTable):
    numeric = frozenset({"balance_cents"})

    def row_href(self, record) -> str:
        return reverse("accounts:detail", args=[record.account_id])

    account_id = tables.Column(verbose_name="Account", orderable=False)
    owner_name = tables.Column(verbose_name="Owner", orderable=False)
    owner_email = tables.Column(verbose_name="Email", orderable=False)
    status = tables.Column(verbose_name="Status", orderable=False)
    balance_cents = tables.Column(
        verbose_name="Balance",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    created_at = tables.Column(verbose_name="Created", orderable=False)

    class Meta:
        template_name = "components/table.html"
        attrs = {"class": "data-table"}

    def render_account_id(self, value, record):
        return format_html(
            '<a class="mono" href="{}">{}</a>',
            reverse("accounts:detail", args=[value]),
            str(value)[:8] + "…",
        )

    def render_status(self, value, record):
        return format_html(
            '<span class="badge badge--{}">{}</span>',
            STATUS_BADGES.get(value, "neutral"),
            record.get_status_display(),
        )

    def render_balance_cents(self, value, record):
        return money(value, record.currency)

    def render_created_at(self, value, record):
        return when(value)
