"""The left navigation: one list, each entry naming the roles that may open it.

An entry appears only for people whose roles the target view accepts, so the
navigation never offers a page that would answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from apps.home.registry import badge_for
from apps.identity.roles import WRITER_ROLES, Role


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    roles: frozenset[str]
    section: str = "Work"


EVERYONE = frozenset(Role.values)
WRITERS = frozenset(WRITER_ROLES)
MANAGERS = frozenset({Role.MANAGER})

ENTRIES: tuple[NavEntry, ...] = (
    NavEntry("Home", "home:index", EVERYONE),
    NavEntry("Accounts", "accounts:list", EVERYONE),
    NavEntry("Payments", "payments:list", EVERYONE),
    NavEntry("Refunds", "payments:refunds", EVERYONE),
    NavEntry("My requests", "approvals:mine", WRITERS),
    NavEntry("Approvals", "approvals:queue", MANAGERS),
    NavEntry("Action log", "audit:list", EVERYONE),
    NavEntry("Reports", "reports:list", frozenset({Role.MANAGER, Role.AUDITOR})),
    NavEntry("Dead letters", "events:dead_letters", frozenset({Role.MANAGER, Role.AUDITOR})),
)


def entries_for(user, current_path: str) -> list[dict]:
    """Navigation entries this user may open, with ``current`` marking the open page."""
    roles = set(getattr(user, "roles", []) or [])
    urls = {entry.url_name: _url(entry.url_name) for entry in ENTRIES}
    # The most specific entry wins (/payments/refunds/ is not the payments list); "/" only itself.
    open_here = [
        name
        for name, url in urls.items()
        if url != NOT_ROUTED
        and (current_path == url if url == "/" else current_path.startswith(url))
    ]
    current_name = max(open_here, key=lambda name: len(urls[name]), default=None)
    visible = []
    for entry in ENTRIES:
        url = urls[entry.url_name]
        if not roles & entry.roles or url == NOT_ROUTED:
            continue
        # A count next to the label (work waiting for this person), contributed by the owning app.
        badge = badge_for(entry.url_name)
        visible.append(
            {
                "label": entry.label,
                "url": url,
                "current": entry.url_name == current_name,
                "section": entry.section,
                "badge_id": f"nav-badge-{entry.url_name.replace(':', '-')}" if badge else "",
                "badge": badge(user) if badge else None,
            }
        )
    return visible


NOT_ROUTED = "\0"


def _url(name: str) -> str:
    """The entry's URL, reversed once per URL configuration and script prefix (every page shows them)."""
    return _reversed(name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


@lru_cache(maxsize=256)
def _reversed(name: str, urlconf: str, script_prefix: str) -> str:
    try:
        return reverse(name, urlconf=urlconf)
    except NoReverseMatch:
        return NOT_ROUTED
