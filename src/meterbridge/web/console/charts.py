"""Charts drawn on the server as SVG: a bar per month, with each bar's value as its tooltip and
the same figures in a table for screen readers (no script, no library)."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import escape

from meterbridge.domain.money import format_money
from meterbridge.services.views import Trend

WIDTH, HEIGHT = 640, 240
LEFT, BOTTOM, TOP = 60, 34, 14  # LEFT: the least room for the axis' labels; more when they need it
TICK_EM = 20  # the axis labels' font size (console.css: svg.bars .tick)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _label(value: Decimal, unit: str, currency: str) -> str:
    if unit == "$":
        return format_money(value, currency)
    shown = value.normalize()
    text = f"{shown:,f}" if shown != shown.to_integral_value() else f"{shown:,.0f}"
    return f"{text} {unit}".strip()


def _month(period: str) -> str:
    year, month = period.split("-")
    return f"{MONTHS[int(month) - 1]} {year[2:]}"


def _width(text: str) -> float:
    """How wide ``text`` is drawn at the axis' font size, generously (DejaVu Sans and the like:
    digits 0.64 em, punctuation and spaces 0.32 em, capitals 0.75 em, other letters 0.62 em)."""
    ems = sum(0.64 if c.isdigit() else 0.32 if c in ",. " else 0.75 if c.isupper() else 0.62 for c in text)
    return ems * TICK_EM


def bars(trend: Trend, currency: str = "$") -> str:
    points = trend.points
    top = max((p.amount for p in points), default=Decimal(0))
    scale = top if top > 0 else Decimal(1)
    top_label = _label(top, trend.unit, currency)
    left = max(LEFT, round(_width(top_label)) + 12)  # the longest label whole, not cut at the edge
    inner_w, inner_h = WIDTH - left - 10, HEIGHT - BOTTOM - TOP
    step = inner_w / max(1, len(points))
    summary = ", ".join(f"{_month(p.period)}: {_label(p.amount, trend.unit, currency)}" for p in points)
    parts = [
        f'<figure class="chart"><figcaption>{escape(trend.name)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(trend.name)}: {escape(summary)}" '
        f'preserveAspectRatio="xMidYMid meet" class="bars">',
        f'<line x1="{left}" y1="{TOP + inner_h}" x2="{WIDTH - 10}" y2="{TOP + inner_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{TOP + 4}" class="tick" text-anchor="end">{escape(top_label)}</text>',
        f'<text x="{left - 6}" y="{TOP + inner_h}" class="tick" text-anchor="end">0</text>',
    ]
    for n, point in enumerate(points):
        height = float(point.amount / scale) * inner_h if point.amount > 0 else 0.0
        x = left + n * step + step * 0.15
        label = escape(f"{_month(point.period)}: {_label(point.amount, trend.unit, currency)}")
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + inner_h - height:.1f}" width="{step * 0.7:.1f}" height="{height:.1f}" '
            f'class="bar"><title>{label}</title></rect>'
        )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - 10}" class="tick" text-anchor="middle">'
            f"{escape(_month(point.period)[:3])}</text>"
        )
    parts.append("</svg>")
    rows = "".join(
        f"<tr><th scope='row'>{escape(p.period)}</th><td>{escape(_label(p.amount, trend.unit, currency))}</td></tr>"
        for p in points
    )
    parts.append(
        f'<table class="visually-hidden"><caption>{escape(trend.name)}</caption>'
        f"<tr><th scope='col'>month</th><th scope='col'>amount</th></tr>{rows}</table></figure>"
    )
    return "".join(parts)
