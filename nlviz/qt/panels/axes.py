"""Axes whose tick labels never run into each other, however short the plot.

pyqtgraph always labels its major ticks; on a short axis (a small dock, an 800x600
window) they overlapped ("0.90.80.7…" on the forgetting curves' log axis, "8642" on the
input strip). These axes keep a label only where it has room: at least ``min_gap``
pixels (about 1.6 text heights on a vertical axis) from the last one kept.
"""
from __future__ import annotations

from collections.abc import Sequence
from math import floor, log10

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QApplication

NICE = (1.0, 2.0, 5.0, 10.0)


def _axis_px(axis: pg.AxisItem) -> float:
    """Length of the axis in pixels."""
    rect = axis.geometry()
    return float(rect.height() if axis.orientation in ("left", "right") else rect.width())


def label_height(axis: pg.AxisItem) -> float:
    """Height in pixels of a tick label's text."""
    font = axis.style.get("tickFont") or QApplication.font()
    return float(QFontMetricsF(font).height())


def min_gap(axis: pg.AxisItem) -> float:
    """Pixels a label needs along the axis (1.6 text heights; 4 across a bottom axis)."""
    h = label_height(axis)
    return 1.6 * h if axis.orientation in ("left", "right") else 4.0 * h


def nice_spacing(span: float, px: float, min_gap: float, current: float) -> float:
    """The smallest 1-2-5 spacing >= ``current`` whose ticks are ``min_gap`` px apart."""
    if span <= 0 or px <= 0 or current <= 0:
        return current
    need = span * min_gap / px                      # units between two labels
    spacing = current
    if spacing >= need:
        return spacing
    exp = floor(log10(need))
    for m in NICE:
        if m * 10 ** exp >= need:
            return m * 10 ** exp
    return 10 ** (exp + 1)


def thin_labels(values: Sequence[float], strings: Sequence[str], px_per_unit: float,
                min_gap: float, prefer: Sequence[bool] | None = None) -> list[str]:
    """Blank the labels that would come closer than ``min_gap`` px to a kept one; labels
    with ``prefer`` True (e.g. powers of ten) are kept first."""
    n = len(values)
    order = sorted(range(n), key=lambda i: (not (prefer[i] if prefer else False), i))
    kept: list[float] = []
    out = [""] * n
    for i in order:
        if not strings[i]:
            continue
        px = values[i] * px_per_unit
        if all(abs(px - k) >= min_gap for k in kept):
            kept.append(px)
            out[i] = strings[i]
    return out


class SpacedAxis(pg.AxisItem):
    """A linear axis whose major tick spacing leaves room for every label (log mode:
    labels thinned, powers of ten first)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override (its names)
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or self.logMode:
            return levels
        major = nice_spacing(abs(maxVal - minVal), float(size), min_gap(self), levels[0][0])
        if major == levels[0][0]:
            return levels
        return [(major, 0.0)]

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        strings = super().logTickStrings(values, scale, spacing)
        lo, hi = sorted(self.range)
        px = _axis_px(self)
        if hi <= lo or px <= 0:
            return strings
        prefer = [abs(v - round(v)) < 1e-9 for v in values]
        return thin_labels(list(values), strings, px / (hi - lo), min_gap(self), prefer)


