"""The action log's table."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apps.home.tables import PortalTable
from apps.home.templatetags.portal import when

OUTCOME_BADGES = {"success": "ok", "rejected": "warn", "failed": "bad"}
TARGET_PAGES = {
    "payment": "payments:detail",
    "account": "accounts:detail",
    "refund": "payments:refund_detail",
}


def target_link(target_type: str, target_id: str) -> str:
    name = TARGET_PAGES.get(target_type)
    label = (
        f"{target_type} {target_id[:8]}…"
        if len(target_id) > 12
        else f"{target_type} {target_id}".strip()
    )
    if name:
        try:
            return format_html('<a href="{}">{}</a>', reverse(name, args=[target_id]), label)
        except NoReverseMatch:
            pass
    return label or "—"


class AuditEntryTable(PortalTable):
    sequence = tables.Column(verbose_name="#", orderable=False)
    created_at = tables.Column(verbose_name="When", orderable=False)
    actor_name = tables.Column(verbose_name="Who", orderable=False)
    action = tables.Column(verbose_name="Action", orderable=False)
    target_id = tables.Column(verbose_name="Target", orderable=False, default="—")
    outcome = tables.Column(verbose_name="Outcome", orderable=False)
    api_status = tables.Column(verbose_name="Service answer", orderable=False, default="—")
    request_id = tables.Column(verbose_name="Request id", orderable=False, default="—")

    numeric = frozenset({"sequence"})

    class Meta:
        template_name = "components/table.html"
        attrs = {"class": "data-table"}

    def row_href(self, record) -> str:
        return reverse("audit:detail", args=[record.sequence])

    def render_sequence(self, value, record):
        return format_html('<a href="{}">{}</a>', self.row_href(record), value)

    def render_created_at(self, value, record):
        return when(value)

    def render_target_id(self, value, record):
        return target_link(record.target_type, value)

    def render_outcome(self, value, record):
        return format_html(
            '<span class="badge badge--{}">{}</span>', OUTCOME_BADGES.get(value, "neutral"), value
        )

    def render_api_status(self, value, record):
        return f"{value} {record.api_error_code}".strip()

    def render_request_id(self, value, record):
        return format_html('<span class="mono">{}</span>', value[:12])
