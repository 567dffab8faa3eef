"""Helpers for the start page tests: read the figures a card shows."""

from __future__ import annotations

import html
import re

FIGURE = re.compile(
    r'<li class="figure(?: figure--(?P<tone>\w+))?">'
    r'(?:<a class="figure__value" href="(?P<url>[^"]*)">|<span class="figure__value">)'
    r"(?P<value>[^<]*)</(?:a|span)><span class=\"figure__label\">(?P<label>[^<]*)</span>"
)


def card(page: str, key: str) -> str:
    """The HTML of one start-page card (``id="card-<key>"``), or "" when absent."""
    start = page.find(f'id="card-{key}"')
    if start == -1:
        return ""
    end = page.find("</section>", start)
    return page[start:end]


def figures(section: str) -> dict[str, dict[str, str]]:
    """``{label: {"value", "url", "tone"}}`` for every figure in a card's HTML."""
    return {
        html.unescape(m["label"]): {
            "value": html.unescape(m["value"]),
            "url": html.unescape(m["url"] or ""),
            "tone": m["tone"] or "",
        }
        for m in FIGURE.finditer(section)
    }
