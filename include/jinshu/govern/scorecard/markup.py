"""HTML pieces of the scorecard page: escaping, bilingual labels, times, the pass-rate chart."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

CHART_BATCHES = 30  # batches drawn per dataset


def esc(value: Any) -> str:
    """HTML-escaped text; None as empty."""
    return html.escape("" if value is None else str(value))


def bi(zh: str, en: str) -> str:
    """A Chinese label with its English subtitle."""
    return f'{esc(zh)} <span class="en">{esc(en)}</span>'


def fmt(moment: datetime | None) -> str:
    """``2024-05-01 08:00 UTC``, or a dash for no time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def chart_svg(history: list[dict[str, Any]], width: int = 340, height: int = 130) -> str:
    """Pass rate per batch as bars (red: a critical failure, amber: warnings only), 0-100 %."""
    history = history[-CHART_BATCHES:]
    left, right, top, bottom = 34, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="合格率 pass rate">']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#d5dae1"/><text x="{left - 4}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#6b7785">{pct}%</text>')
    if not history:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" '
                     f'text-anchor="middle" fill="#6b7785">尚无校验记录 no batches yet</text></svg>')
        return "".join(parts)
    step = plot_w / max(len(history), 1)
    bar = max(min(step * 0.7, 28), 2)
    points = []
    for i, row in enumerate(history):
        rate = row["pass_rate"]
        x = left + step * i + (step - bar) / 2
        h = plot_h * rate / 100
        colour = "#b42318" if row["critical_failed"] else "#d97706" if row["warning_failed"] else "#12a150"
        tip = (f"{fmt(row['validated_at'])} · {row['batch_id']} · {rate:g}% "
               f"({row['passed']}/{row['expectations']})")
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                     f'height="{max(h, 1):.1f}" fill="{colour}"><title>{esc(tip)}</title></rect>')
        points.append(f"{x + bar / 2:.1f},{top + plot_h - h:.1f}")
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#1f2933" '
                     f'stroke-width="1.2" stroke-dasharray="3 2"/>')
    first, last = history[0]["validated_at"], history[-1]["validated_at"]
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="10" fill="#6b7785">'
                 f'{esc(first.strftime("%m-%d") if first else "")}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 6}" font-size="10" text-anchor="end" '
                 f'fill="#6b7785">{esc(last.strftime("%m-%d") if last else "")} '
                 f'({len(history)} 批 batches)</text></svg>')
    return "".join(parts)
