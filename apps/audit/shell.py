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

from django.core.cache import caches
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.selectors import visible_entries_for
from apps.audit.services import Outcome
from apps.home import registry
from apps.home.charts import Series, daily_chart, last_days, render_chart
from apps.identity.roles import Role

CHART_DAYS = 30
PAST_DAYS_CACHE_SECONDS = 3600  # the log is append-only: a past day's counts never change
EXPORT_ACTIONS = ("payments.export", "refunds.export", "accounts.export", "audit.export")
# A full verification runs nightly: one not found in this window is itself worth seeing.
FULL_VERIFICATION_WINDOW = timedelta(days=8)


def _first_sequence_since(moment: datetime) -> int | None:
    """The first entry at or after ``moment`` (one probe of the created_at index).

    Sequences are gap-free and grow with time, so "since" becomes a sequence
    range that the (action, sequence) index answers without reading rows.
    """
    return (
        AuditEntry.objects.filter(created_at__gte=moment)
        .order_by("created_at", "sequence")
        .values_list("sequence", flat=True)
        .first()
    )


def _count(action: str, from_sequence: int | None) -> int:
    if from_sequence is None:
        return 0
    return AuditEntry.objects.filter(action=action, sequence__gte=from_sequence).count()


def _last_verification(*, full: bool, since: datetime | None = None) -> AuditEntry | None:
    runs = AuditEntry.objects.filter(action="audit.verify", params__full=full)
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    return runs.order_by("-sequence").first()


def _list_url(**params: str) -> str:
    return f"{reverse('audit:list')}?{urlencode(params)}"


def auditor_card(request: HttpRequest) -> registry.CardContent:
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    day_ago = now - timedelta(hours=24)
    week_ago = now - timedelta(days=7)
    full = _last_verification(full=True, since=now - FULL_VERIFICATION_WINDOW)
    incremental = _last_verification(full=False)
    newest = max(
        (run for run in (full, incremental) if run is not None),
        key=lambda run: run.sequence,
        default=None,
    )
    intact = newest is not None and newest.outcome == Outcome.SUCCESS
    newest_sequence = AuditEntry.objects.order_by("-sequence").values_list("sequence", flat=True)
    last = newest_sequence.first() or 0
    first_today = _first_sequence_since(today)
    from_day_ago = _first_sequence_since(day_ago)
    from_week_ago = _first_sequence_since(week_ago)
    exports = {action: _count(action, from_week_ago) for action in EXPORT_ACTIONS}
    denied = _count("access.denied", from_day_ago)
    # "in 24 h" as a list filter: from yesterday's date (the list filters by whole days).
    yesterday = timezone.localtime(day_ago).date().isoformat()
    figures = [
        registry.Figure(
            "chain status",
            "intact" if intact else ("broken" if newest else "never verified"),
            _list_url(action="audit.verify"),
            "ok" if intact else "bad",
        ),
        registry.Figure(
            "entries today",
            last - first_today + 1 if first_today is not None else 0,
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
            _count("identity.sign_in_failed", from_day_ago),
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
            "full_window_days": FULL_VERIFICATION_WINDOW.days,
            "incremental": incremental,
            "exports": [
                {
                    "action": action,
                    "count": count,
                    "url": _list_url(action=action, created_from=week_from),
                }
                for action, count in exports.items()
            ],
            "chart": outcome_chart(today, first_today),
        },
    )


def _outcomes_by_day(entries, tz) -> dict:
    rows = (
        entries.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "outcome")
        .annotate(n=Count("sequence"))
        .values_list("day", "outcome", "n")
    )
    return {(day, outcome): n for day, outcome, n in rows}


def outcome_chart(today: datetime, first_today: int | None) -> str:
    """Past days from a cache kept an hour (they cannot change); today counted now, by sequence."""
    tz = timezone.get_current_timezone()
    key = f"home:audit-outcomes:{tz}:{today.date().isoformat()}"
    counts = caches["local"].get(key)
    if counts is None:
        since = today - timedelta(days=CHART_DAYS - 1)
        counts = _outcomes_by_day(
            AuditEntry.objects.filter(created_at__gte=since, created_at__lt=today), tz
        )
        caches["local"].set(key, counts, PAST_DAYS_CACHE_SECONDS)
    if first_today is not None:
        counts.update(_outcomes_by_day(AuditEntry.objects.filter(sequence__gte=first_today), tz))
    days = last_days(today.date(), CHART_DAYS)
    series = [
        Series(label, css, [counts.get((day, outcome), 0) for day in days])
        for outcome, label, css in (
            (Outcome.SUCCESS, "Success", "chart-series--a"),
            (Outcome.REJECTED, "Rejected", "chart-series--b"),
            (Outcome.FAILED, "Failed", "chart-series--d"),
        )
    ]
    chart = daily_chart(title="Actions per day by outcome", days=days, series=series)
    return render_chart(chart, chart_id="audit-outcome-chart")


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
