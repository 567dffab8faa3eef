"""How fresh the read models are, as every page shows it, read at most once every few seconds.

The freshness line of a list and the intake banner of every page come from
two small tables the event intake writes (``apps.events``). Read on every
request they were two of a page's queries; a few seconds' staleness is below
what they display ("synced 3 minutes ago"), so each process keeps the last
answer for PORTAL_FRESHNESS_CACHE_SECONDS (0: read every time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings

_cache: dict[str, tuple[float, Any]] = {}


def _cached(key: str, read: Callable[[], Any]) -> Any:
    ttl = settings.PORTAL_FRESHNESS_CACHE_SECONDS
    now = time.monotonic()
    hit = _cache.get(key)
    if ttl and hit is not None and hit[0] > now:
        return hit[1]
    value = read()
    if ttl:
        _cache[key] = (now + ttl, value)
    return value


def clear() -> None:
    _cache.clear()


def newest_sync() -> datetime | None:
    """When the intake last applied any event."""
    from apps.events.selectors import newest_applied_at

    return _cached("newest_sync", newest_applied_at)


def intake_freshness():
    from apps.events.selectors import intake_freshness as read

    return _cached("intake_freshness", read)
