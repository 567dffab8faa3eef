"""Small charts drawn on the server as SVG: no library, no script, nothing inline.

:func:`daily_chart` turns a few daily series into the coordinates the
HTML of :func:`render_chart` draws (a group of bars per day, axis
labels, colours from classes in static/css), together with the same figures
as rows for the table that serves as the chart's text alternative. Bars, not
lines: series that coincide (requested, approved and executed on one day)
stay visible side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 600
HEIGHT = 180
LEFT = 52  # room for the y-axis labels
RIGHT = 8
TOP = 10
BOTTOM = 24  # room for the x-axis labels


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str  # chart-series--a / --b / --c / --d: colours live in static/css
    values: Sequence[Decimal | int]


@dataclass(frozen=True)
class DrawnSeries:
    name: str
    css_class: str
    total: Decimal | int


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str  # shown on hover: "04 Dec · Requested 25.00"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    days: list[date]
    series: list[DrawnSeries]
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rows: list[tuple[date, list[Decimal | int]]]  # the text alternative, newest day first
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM


def last_days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - offset) for offset in range(count)]


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _label(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def daily_chart(*, title: str, days: list[date], series: list[Series], unit: str = "") -> Chart:
    """A group of bars per day (oldest first), one bar per series, on one y axis from zero."""
    top_value = _nice_ceiling(max((float(v) for s in series for v in s.values), default=0.0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(days), 1)
    bar_width = round(slot * 0.8 / max(len(series), 1), 2)

    def y(value: float) -> float:
        return round(TOP + plot_height - (value / top_value) * plot_height, 1)

    def centre(index: int) -> float:
        return round(LEFT + index * slot + slot / 2, 1)

    bars = []
    for j, s in enumerate(series):
        for i, value in enumerate(s.values):
            if not value:
                continue
            top = y(float(value))
            bars.append(
                Bar(
                    x=round(LEFT + i * slot + slot * 0.1 + j * bar_width, 2),
                    y=top,
                    width=bar_width,
                    height=round(TOP + plot_height - top, 1),
                    css_class=s.css_class,
                    title=f"{days[i]:%d %b} · {s.name} {value}{(' ' + unit) if unit else ''}",
                )
            )
    drawn = [
        DrawnSeries(name=s.name, css_class=s.css_class, total=sum(s.values, start=0))
        for s in series
    ]
    y_ticks = [Tick(y(top_value * part / 4), _label(top_value * part / 4)) for part in range(5)]
    x_ticks = [
        Tick(centre(i), day.strftime("%d %b"))
        for i, day in enumerate(days)
        if i % 7 == (len(days) - 1) % 7  # every seventh day, ending on today
    ]
    rows = [(day, [s.values[i] for s in series]) for i, day in enumerate(days)][::-1]
    totals = ", ".join(f"{d.name} {d.total}{(' ' + unit) if unit else ''}" for d in drawn)
    description = f"{title}, {len(days)} days to {days[-1]:%d %b %Y}: {totals}."
    return Chart(
        title=title,
        description=description,
        days=days,
        series=drawn,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        rows=rows,
    )


def render_chart(chart: Chart, *, chart_id: str, unit: str = "") -> SafeString:
    """The chart as HTML: a titled SVG (role="img", title and desc), its legend, and its figures
    as a table in a <details>. Written here rather than in a template: a month of bars and its
    table are hundreds of elements, which Django's template loops render ten times slower.
    Every text is escaped; colours come from classes, never from style attributes.
    """
    e = escape
    suffix = f" {e(unit)}" if unit else ""
    left, right, base = chart.left, chart.right_edge, chart.baseline
    grid = "".join(
        f'<line class="chart__grid" x1="{left}" x2="{right}" y1="{t.position}" y2="{t.position}"/>'
        f'<text class="chart__label" x="{left - 6}" y="{t.position}" text-anchor="end" '
        f'dominant-baseline="middle">{e(t.label)}</text>'
        for t in chart.y_ticks
    )
    days = "".join(
        f'<text class="chart__label" x="{t.position}" y="{chart.height - 6}" '
        f'text-anchor="middle">{e(t.label)}</text>'
        for t in chart.x_ticks
    )
    bars = "".join(
        f'<rect class="chart__bar {b.css_class}" x="{b.x}" y="{b.y}" width="{b.width}" '
        f'height="{b.height}"><title>{e(b.title)}</title></rect>'
        for b in chart.bars
    )
    legend = "".join(
        f'<span class="chart__key {s.css_class}">{e(s.name)}: {e(s.total)}{suffix}</span>'
        for s in chart.series
    )
    head = "".join(f'<th scope="col" class="num">{e(s.name)}</th>' for s in chart.series)
    rows = "".join(
        f'<tr><th scope="row" class="nowrap">{day:%a %d %b}</th>'
        + "".join(f'<td class="num">{e(value)}</td>' for value in values)
        + "</tr>"
        for day, values in chart.rows
    )
    cid = e(chart_id)
    return mark_safe(  # noqa: S308 — every interpolated text above is escaped
        f'<figure class="chart"><figcaption class="chart__title">{e(chart.title)}</figcaption>'
        f'<svg class="chart__svg" viewBox="0 0 {chart.width} {chart.height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{cid}-title">{e(chart.title)}</title>'
        f'<desc id="{cid}-desc">{e(chart.description)}</desc>'
        f'{grid}{days}<line class="chart__axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"/>'
        f"{bars}</svg>"
        f'<p class="chart__legend">{legend}</p>'
        f'<details class="chart__figures"><summary>Figures as a table</summary>'
        f'<table class="data-table data-table--compact"><caption class="visually-hidden">'
        f'{e(chart.title)}</caption><thead><tr><th scope="col">Day</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details></figure>"
    )
