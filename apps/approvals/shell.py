"""What the approvals app contributes to the shell (registered in ``ApprovalsConfig.ready``):
the queue's navigation badge, the requester's and the manager's start-page cards, request
references in the header search, and the request panels on payment and account pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.approvals import selectors
from apps.approvals.models import FreezeRequest, RefundRequest
from apps.approvals.panels import POLL_SECONDS, freeze_panel_context, refund_panel_context
from apps.home import registry
from apps.home.charts import Series, daily_chart, last_days, render_chart
from apps.home.search import by_id
from apps.identity.roles import Role
from apps.payments.currencies import to_major_units


def start_of_today() -> datetime:
    """Midnight in the viewer's timezone (activated per request), as an aware datetime."""
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _age(since: datetime) -> str:
    seconds = int((timezone.now() - since).total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 0)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} days"


# --- cards ----------------------------------------------------------------------------------


def requester_card(request: HttpRequest) -> registry.CardContent:
    from apps.workspace.selectors import last_looked_at

    since = last_looked_at(owner=request.user, list_name="approvals:mine")
    figures = selectors.requester_figures(user=request.user, since=since)
    mine = reverse("approvals:mine")
    return registry.CardContent(
        title="My requests",
        template="approvals/start_requester.html",
        context={
            "figures": [
                registry.Figure("open", figures.open_count, f"{mine}?state=open"),
                registry.Figure(
                    "decided since you last looked" if since else "decided",
                    figures.decided_since,
                    f"{mine}?state=decided",
                    "ok" if figures.decided_since else "",
                ),
            ],
            "open_requests": figures.open_requests,
            "poll_seconds": POLL_SECONDS,
        },
    )


def manager_card(request: HttpRequest) -> registry.CardContent:
    today = start_of_today()
    figures = selectors.manager_figures(manager=request.user, today_starts=today)
    queue = reverse("approvals:queue")
    target = timedelta(hours=settings.APPROVAL_TARGET_HOURS)
    oldest = figures.oldest_waiting_since
    late = oldest is not None and timezone.now() - oldest > target
    audit = reverse("audit:list")
    return registry.CardContent(
        title="Approvals",
        template="approvals/start_manager.html",
        wide=True,
        context={
            "figures": [
                registry.Figure(
                    "waiting for you",
                    figures.waiting_for_me,
                    f"{queue}?waiting=me",
                    "warn" if figures.waiting_for_me else "",
                ),
                registry.Figure(
                    "waiting for a second manager",
                    figures.waiting_for_second,
                    f"{queue}?waiting=second",
                ),
                registry.Figure(
                    f"oldest waiting (target {settings.APPROVAL_TARGET_HOURS:g} h)",
                    _age(oldest) if oldest else "none",
                    queue,
                    "bad" if late else ("ok" if oldest else ""),
                ),
                registry.Figure(
                    "decided today",
                    figures.decided_today,
                    f"{audit}?{urlencode({'created_from': today.date().isoformat()})}",
                ),
            ],
            "charts": refund_charts(today),
        },
    )


def refund_charts(today: datetime) -> list[str]:
    """One chart per currency, amounts in major units: past days cached, today read live."""
    tz = timezone.get_current_timezone()
    key = f"home:refund-flow:{tz}:{today.date().isoformat()}"
    flows = caches["local"].get(key)
    if flows is None:
        since = today - timedelta(days=selectors.CHART_DAYS - 1)
        flows = selectors.refund_flow_by_day(since=since, until=today, tz=tz)
        caches["local"].set(key, flows, selectors.PAST_DAYS_CACHE_SECONDS)
    for currency, per_stage in selectors.refund_flow_by_day(since=today, tz=tz).items():
        for stage, per_day in per_stage.items():
            flows.setdefault(currency, {"requested": {}, "approved": {}, "executed": {}})
            flows[currency][stage].update(per_day)
    days = last_days(today.date(), selectors.CHART_DAYS)
    charts = []
    for currency in sorted(flows):
        per_day = flows[currency]
        series = [
            Series(
                name.capitalize(),
                css,
                [to_major_units(per_day[name].get(day, 0), currency) for day in days],
            )
            for name, css in (
                ("requested", "chart-series--a"),
                ("approved", "chart-series--b"),
                ("executed", "chart-series--c"),
            )
        ]
        chart = daily_chart(
            title=f"Refunds in {currency} per day", days=days, series=series, unit=currency
        )
        charts.append(render_chart(chart, chart_id=f"refund-chart-{currency}", unit=currency))
    return charts


# --- search -----------------------------------------------------------------------------------


def find_requests(user: Any, text: str, limit: int) -> list[registry.SearchHit]:
    """A request reference (its id), whole or from its first 8 characters, if the person may see it."""
    hits = []
    for model in (RefundRequest, FreezeRequest):
        found = by_id(model.objects.all(), text)
        if found is None:
            return []
        if not user.has_role(Role.MANAGER, Role.AUDITOR):
            found = found.filter(requested_by=user)
        for item in found[:limit]:
            if isinstance(item, RefundRequest):
                what = (
                    f"Refund of {to_major_units(item.amount_cents, item.currency)} {item.currency}"
                )
            else:
                what = f"{item.get_action_display()} of an account"
            hits.append(
                registry.SearchHit(
                    kind="Request",
                    label=f"{what} · {str(item.pk)[:8]}",
                    url=reverse("approvals:detail", kwargs={"request_id": item.pk}),
                    detail=item.get_status_display(),
                )
            )
    return hits


# --- panels on the payment and account pages --------------------------------------------------


def refund_panel(request: HttpRequest, payment: Any) -> str:
    return render_to_string(
        "approvals/refund_panel.html", refund_panel_context(request, payment), request=request
    )


def freeze_panel(request: HttpRequest, account: Any) -> str:
    return render_to_string(
        "approvals/freeze_panel.html", freeze_panel_context(request, account), request=request
    )


def awaiting_badge(user: Any) -> int:
    return selectors.awaiting_count(manager=user)


def register() -> None:
    registry.register_badge("approvals:queue", awaiting_badge)
    registry.register_card(
        registry.StartCard(
            key="approvals.requester",
            roles=frozenset({Role.AGENT}),
            build=requester_card,
            order=10,
        )
    )
    registry.register_card(
        registry.StartCard(
            key="approvals.manager",
            roles=frozenset({Role.MANAGER}),
            build=manager_card,
            order=10,
        )
    )
    registry.register_search_source(registry.SearchSource("requests", find_requests, order=30))
    registry.register_panel("payment", refund_panel, key="approvals.refunds")
    registry.register_panel("account", freeze_panel, key="approvals.freezes")
