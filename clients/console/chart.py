"""A bar chart as numbers for an inline SVG drawn by the template: no script, no image request, and
the CSP (``default-src 'self'``) untouched. Each bar has a text equivalent (``<title>``) and the page
shows the same counts as a table for screen readers."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, GAP, AXIS = 480, 120, 2, 16


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int


def bars(counts: list[int], labels: list[str]) -> Chart:
    """Bars scaled to the largest count (an all-zero day draws a flat baseline)."""
    peak = max(counts, default=0)
    step = WIDTH / max(len(counts), 1)
    found = []
    for i, (count, label) in enumerate(zip(counts, labels, strict=True)):
        height = (HEIGHT - AXIS) * count / peak if peak else 0
        found.append(Bar(i * step, HEIGHT - AXIS - height, step - GAP, height, count, label))
    return Chart(WIDTH, HEIGHT, found, peak)
