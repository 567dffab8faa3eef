"""The header's search box: any id pasted in, the record found among the registered sources.

Each app registers a :class:`~apps.home.registry.SearchSource` for the ids it
owns (payments, accounts, requests, the action log); every source applies its
own access rules, so a person finds only what they may open.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from apps.home.registry import SearchHit, search_sources

MAX_TEXT = 320  # the longest e-mail address; longer text is no id
PER_SOURCE = 10
SHOWN = 25
HEX_OR_DASH = re.compile(r"^[0-9a-f-]+$")
MIN_PREFIX = 8


def uuid_prefix_bounds(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``text`` as the lowest and highest UUID starting with it (a primary-key range the
    index answers), or None unless it is 8 to 32 hex digits."""
    text = text.strip().lower()
    digits = text.replace("-", "")
    if not HEX_OR_DASH.match(text) or not MIN_PREFIX <= len(digits) <= 32:
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def by_id(queryset: QuerySet, text: str, field: str = "pk") -> QuerySet | None:
    """``queryset`` narrowed to ``text`` as a whole id or as a prefix of 8+ hex digits (a key
    range the primary-key index answers), or None when ``text`` is neither."""
    exact = as_uuid(text)
    if exact is not None:
        return queryset.filter(**{field: exact})
    bounds = uuid_prefix_bounds(text)
    if bounds is not None:
        return queryset.filter(**{f"{field}__range": bounds}).order_by(field)
    return None


@dataclass(frozen=True)
class SearchResult:
    text: str
    hits: list[SearchHit] = field(default_factory=list)
    problem: str = ""
    more: bool = False

    @property
    def single(self) -> SearchHit | None:
        return self.hits[0] if len(self.hits) == 1 and not self.more else None


def find_records(user: Any, text: str) -> SearchResult:
    text = " ".join(text.split())
    if not text:
        return SearchResult(text, problem="Type or paste an id, a reference or an e-mail address.")
    if any(ord(character) < 32 for character in text):
        return SearchResult("", problem="That contains characters no id or reference has.")
    if len(text) > MAX_TEXT:
        return SearchResult(text[:40] + "…", problem="That is too long to be an id or a reference.")
    hits: list[SearchHit] = []
    seen: set[str] = set()
    for source in search_sources():
        for hit in source.find(user, text, PER_SOURCE):
            if hit.url not in seen:
                seen.add(hit.url)
                hits.append(hit)
    return SearchResult(text, hits=hits[:SHOWN], more=len(hits) > SHOWN)
