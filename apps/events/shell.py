"""What the event intake contributes to the start page (registered in ``EventsConfig.ready``):
how fresh each source's data is, and dead letters waiting when there are any.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from apps.events.models import DeadLetter, DeadLetterStatus
from apps.events.selectors import intake_freshness, intake_stats
from apps.events.views import DEAD_LETTER_READERS
from apps.home import registry
from apps.identity.roles import ALL_ROLES


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "nothing yet"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def intake_card(request: HttpRequest) -> registry.CardContent:
    """Two small reads: the per-source counters and the consumers' heartbeats (tiny tables)."""
    warn_after = settings.PORTAL_FRESHNESS_WARN_SECONDS
    freshness = intake_freshness()
    lag = freshness.lag_seconds()
    sources = [
        {
            "source": stats.source,
            "since": _ago(stats.seconds_since_newest_applied),
            "applied": stats.applied,
        }
        for stats in intake_stats()
    ]
    dead_letters = DeadLetter.objects.filter(status=DeadLetterStatus.PENDING).count()
    figures = [
        registry.Figure(
            "intake lag",
            "no consumer yet" if lag is None else f"{int(lag)} s",
            tone="ok" if lag is not None and lag <= warn_after else "warn",
        )
    ]
    if dead_letters:
        figures.append(registry.Figure("dead letters waiting", dead_letters, tone="bad"))
    return registry.CardContent(
        title="Data freshness",
        template="events/start_intake.html",
        context={
            "figures": figures,
            "sources": sources,
            "dead_letters": dead_letters,
            # Managers and auditors read them in the portal (apps.events.views).
            "dead_letters_url": reverse("events:dead_letters")
            if request.user.has_role(*DEAD_LETTER_READERS)
            else None,
        },
    )


def register() -> None:
    registry.register_card(
        registry.StartCard(key="events.intake", roles=ALL_ROLES, build=intake_card, order=90)
    )
