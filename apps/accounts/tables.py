"""The accounts table."""

from __future__ import annotations

import django_tables2 as tables

from apps.accounts.models import AccountStatus
from apps.home.tables import PortalTable, StatusBadges, detail_url, id_link
from apps.home.templatetags.portal import money, when

STATUS_BADGES = StatusBadges(
    {"active": "ok", "frozen": "warn", "closed": "neutral"}, AccountStatus.choices
)


class AccountTable(PortalTable):
    numeric = frozenset({"balance_cents"})

    def row_href(self, record) -> str:
        return detail_url("accounts:detail", record.account_id)

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
        return id_link(detail_url("accounts:detail", value), value)

    def render_status(self, value, record):
        return STATUS_BADGES[value]

    def render_balance_cents(self, value, record):
        return money(value, record.currency)

    def render_created_at(self, value, record):
        return when(value)
