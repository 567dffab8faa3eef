"""What other apps contribute to the shell: navigation badges, start-page cards, search
sources and panels on the record pages.

The shell (``apps/home``) and the read-model pages (``apps/accounts``,
``apps/payments``) never import a workflow app. Each app registers what it
owns in its ``AppConfig.ready()`` — like Wagtail's hooks or
``admin.site.register`` — and the shell renders whatever is registered::

    from apps.home import registry

    registry.register_badge("approvals:queue", awaiting_for)
    registry.register_card(StartCard(key="approvals.manager", roles={Role.MANAGER}, ...))
    registry.register_search_source(SearchSource(name="requests", find=find_requests))
    registry.register_panel("payment", render_refund_panel)

Registration is idempotent by key, so a re-run ``ready()`` (tests, autoreload)
replaces an entry instead of doubling it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

# --- navigation badges ---------------------------------------------------------------

_badges: dict[str, Callable[[Any], int]] = {}


def register_badge(url_name: str, count: Callable[[Any], int]) -> None:
    """A count shown beside the navigation entry ``url_name`` (work waiting for this person)."""
    _badges[url_name] = count


def badge_for(url_name: str) -> Callable[[Any], int] | None:
    return _badges.get(url_name)


# --- start-page cards ------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One number on a card and the list, filtered to it, that it opens."""

    label: str
    value: int | str
    url: str = ""
    tone: str = ""  # "", "ok", "warn", "bad"


@dataclass(frozen=True)
class CardContent:
    """One rendered card: a title and the template (with its context) that draws the rest."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    wide: bool = False


@dataclass(frozen=True)
class StartCard:
    """A card on the start page for people holding any of ``roles``.

    ``build`` returns the card's content, or None when there is nothing worth
    showing (the intake card hides itself while all is well).
    """

    key: str
    roles: frozenset[str]
    build: Callable[[HttpRequest], CardContent | None]
    order: int = 100


_cards: dict[str, StartCard] = {}


def register_card(card: StartCard) -> None:
    _cards[card.key] = card


def cards_for(request: HttpRequest) -> list[CardContent]:
    """The cards this person's roles see, in order, built now (each is a few indexed queries)."""
    roles = set(getattr(request.user, "roles", []) or [])
    built = []
    for card in sorted(_cards.values(), key=lambda c: (c.order, c.key)):
        if not roles & card.roles:
            continue
        content = card.build(request)
        if content is not None:
            built.append(
                CardContent(
                    title=content.title,
                    template=content.template,
                    context=content.context,
                    key=card.key,
                    wide=content.wide,
                )
            )
    return built


# --- search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """One record the search found: what it is, how to name it, where it lives."""

    kind: str
    label: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class SearchSource:
    """Finds records of one kind for a search text, among what ``user`` may open.

    ``find(user, text, limit)`` returns at most ``limit`` hits and must not
    raise on text that is not of its kind (return nothing instead).
    """

    name: str
    find: Callable[[Any, str, int], list[SearchHit]]
    order: int = 100


_search_sources: dict[str, SearchSource] = {}


def register_search_source(source: SearchSource) -> None:
    _search_sources[source.name] = source


def search_sources() -> list[SearchSource]:
    return sorted(_search_sources.values(), key=lambda s: (s.order, s.name))


# --- panels on record pages ----------------------------------------------------------------

_panels: dict[str, dict[str, Callable[[HttpRequest, Any], str]]] = {}


def register_panel(
    record_kind: str, render: Callable[[HttpRequest, Any], str], *, key: str = ""
) -> None:
    """A section another app adds to the page of a ``record_kind`` ("payment", "account")."""
    _panels.setdefault(record_kind, {})[key or getattr(render, "__qualname__", repr(render))] = (
        render
    )


def panels_for(record_kind: str, request: HttpRequest, record: Any) -> list[SafeString]:
    """The contributed panels' HTML for one record, in registration order."""
    return [mark_safe(render(request, record)) for render in _panels.get(record_kind, {}).values()]  # noqa: S308 — rendered templates


def registered(kind: str) -> Iterable[str]:
    """Keys registered of one kind (for tests and the docs)."""
    return {
        "badges": _badges,
        "cards": _cards,
        "search": _search_sources,
        "panels": dict.fromkeys(_panels),
    }[kind].keys()
