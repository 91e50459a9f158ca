"""Shared drawing helpers of the step plots: which rows of a view to hand pyqtgraph
(raw rows, or min/max per pixel bucket) and the y-range policy.

Drawing cost: a plot gets only what is visible, and when that is more than two points
per pixel it is decimated first (min and max per pixel-wide bucket of steps, buckets
aligned to step numbers so peaks do not shimmer as data scrolls in, all rows of a plot in
one numpy reduction). pyqtgraph's own clip-to-view and downsampling stay off: they
re-scanned every point of every curve on every frame.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from nlviz.series.decimate import minmax_buckets, visible_slice

LOG_FLOOR = 1e-12
POINTS_PER_PIXEL = 2            # above this many visible steps per pixel: min/max buckets
Y_SHRINK_PERIOD = 0.5           # s: the y range grows at once, shrinks at most 2x a second


@dataclass(frozen=True)
class Window:
    """Columns ``[lo, hi)`` of a view to draw, decimated by ``k`` steps per bucket (1: raw)."""

    lo: int
    hi: int
    k: int


def pixel_window(x: np.ndarray, x0: float, x1: float, pixels: int) -> Window:
    """The part of ``x`` (n,) to draw in ``pixels`` columns showing steps ``[x0, x1]``: all
    of it when it has at most two points per pixel, else the visible slice in buckets."""
    n = len(x)
    lo, hi = 0, n
    if n > POINTS_PER_PIXEL * pixels:
        lo, hi = visible_slice(x, x0, x1)
    k = int(np.ceil((hi - lo) / pixels)) if hi - lo > POINTS_PER_PIXEL * pixels else 1
    return Window(lo, hi, k)


def rows_xy(x: np.ndarray, y: np.ndarray, w: Window, mask: np.ndarray | None = None,
            log: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row of ``y`` (R, n) the (x, y) to draw for window ``w``; with ``mask`` (R, n) only
    masked steps (fired ones); ``log`` clips at ``LOG_FLOOR``. Raw windows are views."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    R = y.shape[0]
    if w.k <= 1:
        for r in range(R):
            xs, ys = x[w.lo:w.hi], y[r, w.lo:w.hi]
            if mask is not None:
                sel = mask[r, w.lo:w.hi] > 0
                xs, ys = xs[sel], ys[sel]
            out.append((xs, np.maximum(ys, LOG_FLOOR) if log else ys))
        return out
    # buckets end before the last row: the live edge is always drawn exactly (raw tail)
    bx, mn, mx, tail = minmax_buckets(x, y, w.lo, w.hi - 1, w.k, mask)
    xs = np.repeat(bx, 2)
    ys = np.stack((mn, mx), -1).reshape(R, -1)                   # (R, 2 nb)
    for r in range(R):
        xl = np.concatenate((xs, x[tail:w.hi]))
        yl = np.concatenate((ys[r], y[r, tail:w.hi]))
        if mask is not None:
            keep = np.isfinite(yl)
            keep[2 * len(bx):] = mask[r, tail:w.hi] > 0
            xl, yl = xl[keep], yl[keep]
        out.append((xl, np.maximum(yl, LOG_FLOOR) if log else yl))
    return out


def curve(pen: object) -> pg.PlotDataItem:
    """A plot curve without pyqtgraph's per-frame finite check."""
    return pg.PlotDataItem(pen=pen, skipFiniteCheck=True)


class YRange:
    """The y range of one plot: fitted to what was drawn, growing at once and shrinking at
    most twice a second; off after the user zooms y, on again after ``reset``."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.auto = True
        self.log = False
        self.range: tuple[float, float] | None = None
        self._t = 0.0
        self._seen = [np.inf, -np.inf]
        plot.enableAutoRange(y=False)             # set here, not recomputed per frame
        plot.getViewBox().sigRangeChangedManually.connect(self._on_manual)

    def begin(self) -> None:
        """Start a frame: forget what was seen."""
        self._seen = [np.inf, -np.inf]

    def see(self, y: np.ndarray) -> None:
        """Values drawn this frame."""
        if len(y):
            finite = y[np.isfinite(y) & (y > LOG_FLOOR)] if self.log else y[np.isfinite(y)]
            if not len(finite):                 # (log: clipped zeros do not stretch it)
                return
            lo, hi = finite.min(), finite.max()
            if np.isfinite(lo):
                self._seen[0] = min(self._seen[0], float(lo))
            if np.isfinite(hi):
                self._seen[1] = max(self._seen[1], float(hi))

    def apply(self) -> None:
        """Set the plot's y range for what was seen this frame (policy above)."""
        vb = self.plot.getViewBox()
        if vb.state["autoRange"][1] is not False:     # the user pressed pyqtgraph's "A"
            vb.enableAutoRange(y=False)
            self.auto, self.range = True, None
        lo, hi = self._seen
        if not self.auto or not (np.isfinite(lo) and np.isfinite(hi)):
            return
        if self.log:
            lo, hi = np.log10(max(lo, LOG_FLOOR)), np.log10(max(hi, LOG_FLOOR))
        cur, now = self.range, time.monotonic()
        if cur is not None and cur[0] <= lo and hi <= cur[1] and not (
                now - self._t > Y_SHRINK_PERIOD and hi - lo < 0.6 * (cur[1] - cur[0])):
            return
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
        self.range, self._t = (lo - pad, hi + pad), now
        self.plot.setYRange(lo - pad, hi + pad, padding=0)

    def set_log(self, on: bool) -> None:
        """Logarithmic y (values <= 0 are clipped to ``LOG_FLOOR`` by the caller)."""
        self.log = on
        self.plot.setLogMode(x=False, y=on)
        self.range = None

    def reset(self) -> None:
        """Fit y to the data again (after the user zoomed y)."""
        self.auto, self.range = True, None

    def _on_manual(self, mask: Sequence[object]) -> None:
        try:
            y_changed = bool(mask[1])       # pyqtgraph: [x changed, y changed]
        except (TypeError, IndexError):
            y_changed = True
        if y_changed:
            self.auto = False


__all__ = ["LOG_FLOOR", "POINTS_PER_PIXEL", "Window", "YRange", "curve", "pixel_window",
           "rows_xy"]
