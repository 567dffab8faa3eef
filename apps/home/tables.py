"""The portal's base table: django-tables2 columns, with the body rendered in one Python pass.

django-tables2 declares the columns (labels, accessors, defaults, the column
chooser's choices, the CSV exports' order) and keeps them in one place; but
its per-cell rendering works out each ``render_<column>`` method's signature
for every cell, and a template loop over 50 rows by 7 cells resolves
thousands of variables: together most of a list page's time. Here every
``render_<column>`` takes ``(value, record)`` and returns HTML (escaped by
the renderer, or a plain value escaped here), and ``body_html`` joins the
rows' ``<tr>`` in Python, once per page (docs/lists.md has the figures).

Escaping uses the standard library's ``html.escape``, which is what
``django.utils.html.escape`` calls (same output), without its lazy-string
wrapper: that wrapper alone was ≈ 8 % of a list page at 400 cells.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from html import escape as _escape
from typing import Any

import django_tables2 as tables
from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString, mark_safe

_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@lru_cache(maxsize=64)
def _url_parts(url_name: str, script_prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(url_name, args=[_PLACEHOLDER]).partition(_PLACEHOLDER)
    return head, tail


def detail_url(url_name: str, key: Any) -> str:
    """``reverse(url_name, args=[key])`` for a one-argument URL, without resolving it per row."""
    head, tail = _url_parts(url_name, get_script_prefix())
    return f"{head}{key}{tail}"


def escape(value: Any) -> str:
    """``django.utils.html.escape`` without the lazy-string wrapper (plain ``str`` out)."""
    return _escape(str(value))


def id_link(url: str, key: Any) -> SafeString:
    """A record's id as a link to its page, shortened to its first 8 characters."""
    return mark_safe(f'<a class="mono" href="{escape(url)}">{escape(str(key)[:8])}…</a>')  # noqa: S308


def badge(kind: str, label: str) -> SafeString:
    """A status badge (the tables build theirs once per value: :class:`StatusBadges`)."""
    return mark_safe(f'<span class="badge badge--{escape(kind)}">{escape(label)}</span>')  # noqa: S308


class StatusBadges(dict):
    """Each value of a choice field → its badge (kind from ``kinds``, label from ``choices``).

    Built once per table class: what ``get_<field>_display()`` shows, without a choices
    lookup per cell. A value outside the choices gets a neutral badge with the raw value.
    """

    def __init__(self, kinds: dict[str, str], choices) -> None:
        super().__init__(
            (value, badge(kinds.get(value, "neutral"), str(label))) for value, label in choices
        )

    def __missing__(self, value: str) -> SafeString:
        return badge("neutral", str(value))


def _getter(accessor: str) -> Callable[[Any], Any]:
    """A record's value for an accessor such as ``account__owner_name`` (None on a missing link).

    A row of ``values_list(named=True)`` has the accessor itself as an attribute; a model
    instance is followed link by link.
    """
    accessor = str(accessor)
    names = accessor.split("__")
    missing = object()

    def get(record: Any) -> Any:
        value = getattr(record, accessor, missing)
        if value is not missing:
            return value
        value = record
        for name in names:
            value = getattr(value, name, None)
            if value is None:
                return None
        return value

    return get


def _html(value: Any) -> str:
    return value if isinstance(value, SafeString) else escape(value)


class PortalTable(tables.Table):
    numeric: frozenset[str] = frozenset()

    def row_href(self, record) -> str:
        return ""

    def body_html(self) -> SafeString:
        """The ``<tr>`` of every row, for the shown columns in their order."""
        plan = []
        for column in self.columns:
            render = getattr(self, f"render_{column.name}", None)
            default = None if column.default is None else _html(column.default)
            opening = '<td class="num">' if column.name in self.numeric else "<td>"
            plan.append((_getter(column.accessor), render, default, opening))
        parts: list[str] = []
        for record in self.data.data:
            parts.append(f'<tr data-href="{escape(self.row_href(record))}" tabindex="-1">')
            for get, render, default, opening in plan:
                value = get(record)
                if value in (None, "") and default is not None:
                    cell = default
                elif render is not None:
                    cell = _html(render(value, record))
                else:
                    cell = _html(value)
                parts.append(f"{opening}{cell}</td>")
            parts.append("</tr>")
        return mark_safe("".join(parts))  # noqa: S308 — every cell is escaped above
