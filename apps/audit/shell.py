"""What the action log contributes to the shell (registered in ``AuditConfig.ready``): the
auditor's start-page card and request ids in the header search.

The card's reads are a handful of indexed counts (``audit_action``,
``audit_created``) plus a 30-day chart grouped by day and outcome, cached a
minute. Chain status reads the verification runs the log already holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.selectors import visible_entries_for
from apps.audit.services import Outcome
from apps.home import registry
from apps.home.charts import Series, daily_chart, last_days
from apps.identity.roles import Role

CHART_DAYS = 30
CHART_CACHE_SECONDS = 60
EXPORT_ACTIONS = ("payments.export", "refunds.export", "accounts.export", "audit.export")


def _last_verification(*, full: bool) -> AuditEntry | None:
    return (
        AuditEntry.objects.filter(action="audit.verify", params__full=full)
        .order_by("-sequence")
        .first()
    )


def _count(action: str, since: datetime) -> int:
    return AuditEntry.objects.filter(action=action, created_at__gte=since).count()


def _list_url(**params: str) -> str:
    return f"{reverse('audit:list')}?{urlencode(params)}"


def auditor_card(request: HttpRequest) -> registry.CardContent:
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    day_ago = now - timedelta(hours=24)
    week_ago = now - timedelta(days=7)
    full = _last_verification(full=True)
    incremental = _last_verification(full=False)
    newest = max(
        (run for run in (full, incremental) if run is not None),
        key=lambda run: run.sequence,
        default=None,
    )
    intact = newest is not None and newest.outcome == Outcome.SUCCESS
    exports = {action: _count(action, week_ago) for action in EXPORT_ACTIONS}
    # "in 24 h" as a list filter: from yesterday's date (the list filters by whole days).
    yesterday = timezone.localtime(day_ago).date().isoformat()
    denied = _count("access.denied", day_ago)
    figures = [
        registry.Figure(
            "chain status",
            "intact" if intact else ("broken" if newest else "never verified"),
            _list_url(action="audit.verify"),
            "ok" if intact else "bad",
        ),
        registry.Figure(
            "entries today",
            AuditEntry.objects.filter(created_at__gte=today).count(),
            _list_url(created_from=today.date().isoformat()),
        ),
        registry.Figure(
            "denied accesses, 24 h",
            denied,
            _list_url(action="access.denied", created_from=yesterday),
            "warn" if denied else "",
        ),
        registry.Figure(
            "failed sign-ins, 24 h",
            _count("identity.sign_in_failed", day_ago),
            _list_url(action="identity.sign_in_failed", created_from=yesterday),
        ),
        registry.Figure("exports, 7 days", sum(exports.values())),
    ]
    week_from = timezone.localtime(week_ago).date().isoformat()
    return registry.CardContent(
        title="Action log",
        template="audit/start_auditor.html",
        wide=True,
        context={
            "figures": figures,
            "full": full,
            "incremental": incremental,
            "exports": [
                {
                    "action": action,
                    "count": count,
                    "url": _list_url(action=action, created_from=week_from),
                }
                for action, count in exports.items()
            ],
            "chart": outcome_chart(today),
        },
    )


def outcome_chart(today: datetime):
    tz = timezone.get_current_timezone()
    key = f"home:audit-outcomes:{tz}:{today.date().isoformat()}"
    counts = cache.get(key)
    if counts is None:
        since = today - timedelta(days=CHART_DAYS - 1)
        rows = (
            AuditEntry.objects.filter(created_at__gte=since)
            .annotate(day=TruncDate("created_at", tzinfo=tz))
            .values("day", "outcome")
            .annotate(n=Count("sequence"))
            .values_list("day", "outcome", "n")
        )
        counts = {(day, outcome): n for day, outcome, n in rows}
        cache.set(key, counts, CHART_CACHE_SECONDS)
    days = last_days(today.date(), CHART_DAYS)
    series = [
        Series(label, css, [counts.get((day, outcome), 0) for day in days])
        for outcome, label, css in (
            (Outcome.SUCCESS, "Success", "chart-series--a"),
            (Outcome.REJECTED, "Rejected", "chart-series--b"),
            (Outcome.FAILED, "Failed", "chart-series--d"),
        )
    ]
    return daily_chart(title="Actions per day by outcome", days=days, series=series)


def find_request_id(user: Any, text: str, limit: int) -> list[registry.SearchHit]:
    """A request id from the action log (X-Request-ID): its entries, among those this person may see."""
    if len(text) > 128 or " " in text:
        return []
    count = visible_entries_for(user).filter(request_id=text).count()
    if not count:
        return []
    return [
        registry.SearchHit(
            kind="Action log",
            label=f"{count} entr{'y' if count == 1 else 'ies'} of request {text}",
            url=_list_url(q=text),
        )
    ]


def register() -> None:
    registry.register_card(
        registry.StartCard(
            key="audit.auditor", roles=frozenset({Role.AUDITOR}), build=auditor_card, order=10
        )
    )
    registry.register_search_source(registry.SearchSource("action-log", find_request_id, order=40))
