"""The scorecard's templates (Jinja2, autoescaped), times and the pass-rate chart's geometry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

CHART_BATCHES = 30  # batches drawn per dataset


def fmt(moment: datetime | None) -> str:
    """``2024-05-01 08:00 UTC``, or a dash for no time.

    >>> fmt(datetime(2024, 5, 1, 8, 0, tzinfo=UTC)), fmt(None)
    ('2024-05-01 08:00 UTC', '—')
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _blank_none(value: Any) -> Any:
    """Templates print a missing value as nothing, not ``None``."""
    return "" if value is None else value


TEMPLATES = Environment(loader=PackageLoader("jinshu.govern.scorecard", "templates"),
                        autoescape=True, undefined=StrictUndefined, finalize=_blank_none,
                        trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters["when"] = fmt


def _colour(row: dict[str, Any]) -> str:
    """Red: a critical check failed; amber: warnings only; green: all passed."""
    return "#b42318" if row["critical_failed"] else "#d97706" if row["warning_failed"] else "#12a150"


def chart_geometry(history: list[dict[str, Any]], width: int = 340, height: int = 130) -> dict[str, Any]:
    """Where the bars of ``chart.svg.j2`` go: one per batch (the last :data:`CHART_BATCHES`),
    its height the pass rate; red if a critical check failed, amber for warnings only."""
    history = history[-CHART_BATCHES:]
    left, right, top, bottom = 34, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(history), 1)
    bar = max(min(step * 0.7, 28), 2)
    bars = []
    for i, row in enumerate(history):
        rate = row["pass_rate"]
        x, h = left + step * i + (step - bar) / 2, plot_h * rate / 100
        bars.append({
            "x": f"{x:.1f}", "y": f"{top + plot_h - h:.1f}", "width": f"{bar:.1f}",
            "height": f"{max(h, 1):.1f}", "middle": f"{x + bar / 2:.1f}",
            "fill": _colour(row),
            "tip": (f"{fmt(row['validated_at'])} · {row['batch_id']} · {rate:g}% "
                    f"({row['passed']}/{row['expectations']})"),
        })
    first, last = (history[0]["validated_at"], history[-1]["validated_at"]) if history else (None, None)
    return {
        "width": width, "height": height, "left": left, "right": width - right,
        "grid": [{"pct": pct, "y": f"{top + plot_h * (1 - pct / 100):.1f}",
                  "label_y": f"{top + plot_h * (1 - pct / 100) + 4:.1f}"} for pct in (0, 50, 100)],
        "empty_x": left + plot_w / 2, "empty_y": top + plot_h / 2,
        "bars": bars, "points": [f"{b['middle']},{b['y']}" for b in bars],
        "first": first.strftime("%m-%d") if first else "", "last": last.strftime("%m-%d") if last else "",
    }


def chart_svg(history: list[dict[str, Any]], width: int = 340, height: int = 130) -> str:
    """Pass rate per batch as an SVG bar chart (red: a critical failure, amber: warnings only)."""
    macro = TEMPLATES.get_template("chart.svg.j2").module.chart  # type: ignore[attr-defined]
    return str(macro(chart_geometry(history, width, height)))
