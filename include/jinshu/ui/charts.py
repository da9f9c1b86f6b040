"""Inline SVG charts drawn on the server: geometry here, markup in ``templates/charts.html.j2``.

Pure functions over plain numbers: no script, no library, nothing loaded from
anywhere. Each chart also carries a sentence that says what it shows, for the
``aria-label`` of the SVG and for readers who do not read charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

INK, MUTED, GRID = "#1f2933", "#4b5563", "#d5dae1"
COLOURS = {"red": "#9b1c1c", "blue": "#1d4ed8", "green": "#166534", "amber": "#92400e",
           "purple": "#5b21b6", "teal": "#115e59"}


def last_days(end: date, days: int) -> list[date]:
    """``days`` calendar days ending with ``end``, oldest first.

    >>> [d.isoformat() for d in last_days(date(2026, 12, 3), 3)]
    ['2026-12-01', '2026-12-02', '2026-12-03']
    """
    return [end - timedelta(days=days - 1 - i) for i in range(days)]


def daily(counts: Mapping[str, float], end: date, days: int = 30) -> list[tuple[date, float]]:
    """One point per day of the window (``counts`` keyed by ``YYYY-MM-DD``; a day with
    nothing is 0).

    >>> daily({"2026-12-02": 4}, date(2026, 12, 3), 3)[1:]
    [(datetime.date(2026, 12, 2), 4), (datetime.date(2026, 12, 3), 0)]
    """
    return [(d, counts.get(d.isoformat(), 0)) for d in last_days(end, days)]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``.

    >>> [_nice_max(v) for v in (0, 3, 7, 12, 480, 100)]
    [1, 5, 10, 20, 500, 100]
    """
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bars(points: Sequence[tuple[date, float]], label: str, unit: str = "", colour: str = "blue",
         width: int = 520, height: int = 150, top: float | None = None) -> dict:
    """A bar per day; ``top`` fixes the axis (100 for a percentage)."""
    left, right, upper, lower = 44, 8, 10, 22
    plot_w, plot_h = width - left - right, height - upper - lower
    peak = top if top is not None else _nice_max(max((v for _, v in points), default=0))
    step = plot_w / max(len(points), 1)
    bar_w = max(step * 0.72, 1.5)
    shapes = []
    for i, (day, value) in enumerate(points):
        h = plot_h * min(value, peak) / peak if peak else 0
        x = left + step * i + (step - bar_w) / 2
        shapes.append({"x": f"{x:.1f}", "y": f"{upper + plot_h - h:.1f}", "w": f"{bar_w:.1f}",
                       "h": f"{h:.1f}", "tip": f"{day.isoformat()}: {_number(value)}{unit}"})
    total = sum(v for _, v in points)
    nonzero = [v for _, v in points if v]
    summary = (f"{label}: {len(points)} days from {points[0][0]} to {points[-1][0]}, "
               f"{len(nonzero)} with data; latest {_number(points[-1][1])}{unit}") if points else label
    return {
        "width": width, "height": height, "left": left, "right": width - right, "label": label,
        "fill": COLOURS[colour], "bars": shapes, "summary": summary, "total": total,
        "grid": [{"y": f"{upper + plot_h * (1 - f):.1f}", "text": f"{_number(peak * f)}{unit}"}
                 for f in (0, 0.5, 1)],
        "first": points[0][0].strftime("%m-%d") if points else "",
        "last": points[-1][0].strftime("%m-%d") if points else "",
        "baseline": f"{upper + plot_h:.1f}", "text_y": height - 6,
    }


def hbars(items: Sequence[tuple[str, float]], label: str, unit: str = "", colour: str = "red",
          width: int = 520, row: int = 26) -> dict:
    """One horizontal bar per item (a department), longest first as given."""
    left, right = 170, 70
    peak = max((v for _, v in items), default=0) or 1
    shapes = []
    for i, (name, value) in enumerate(items):
        w = (width - left - right) * value / peak
        shapes.append({"y": i * row + 4, "w": f"{w:.1f}", "name": name, "text_y": i * row + 18,
                       "value": f"{_number(value)}{unit}", "value_x": f"{left + w + 6:.1f}"})
    summary = label + ": " + "; ".join(f"{n} {_number(v)}{unit}" for n, v in items)
    return {"width": width, "height": max(len(items), 1) * row + 6, "left": left, "label": label,
            "fill": COLOURS[colour], "bars": shapes, "summary": summary}
