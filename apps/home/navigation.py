"""The left navigation: one list, each entry naming the roles that may open it.

An entry appears only for people whose roles the target view accepts, so the
navigation never offers a page that would answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from apps.identity.roles import Role


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    roles: frozenset[str]
    section: str = "Work"


ENTRIES: tuple[NavEntry, ...] = (NavEntry("Home", "home:index", frozenset(Role.values)),)


def entries_for(user, current_path: str) -> list[dict]:
    """Navigation entries this user may open, with ``current`` marking the open page."""
    roles = set(getattr(user, "roles", []) or [])
    visible = []
    for entry in ENTRIES:
        if not roles & entry.roles:
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        current = current_path == url if url == "/" else current_path.startswith(url)
        visible.append(
            {"label": entry.label, "url": url, "current": current, "section": entry.section}
        )
    return visible
