"""One compare plot: a curve and a dashed baseline per run, a mean curve and a ± std band
per group, a legend and a zero line for the switch-aligned view. The window decides what
to show; this only holds the items and sets their data."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from nlviz.qt.panels.bands import BandsItem
from nlviz.replay.compare import MAX_RUNS, RunSeries

RUN_COLORS = ("#5da5ff", "#ffa94d", "#51cf66", "#ff6b6b", "#cc5de8", "#fcc419", "#22b8cf",
              "#f783ac")
assert len(RUN_COLORS) >= MAX_RUNS
BAND_ALPHA = 60
REGIME_ALPHA = 28          # fainter than the live loss panel's: several curves on top


def run_pen(i: int, dashed: bool = False, width: int = 1) -> pg.QtGui.QPen:
    """Cosmetic pen of run (or group) ``i``; dashed for baselines."""
    pen = pg.mkPen(RUN_COLORS[i % len(RUN_COLORS)], width=width)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


def series_xy(s: RunSeries) -> tuple[np.ndarray, np.ndarray]:
    """Plot arrays of one series: raw values, or the min/max envelope (each bucket twice:
    min then max)."""
    if s.is_summary:
        x = np.repeat(np.asarray(s.steps, np.float64), 2)
        y = np.stack([s.values, s.maxs], -1).reshape(-1).astype(np.float64)
        return x, y
    return np.asarray(s.steps, np.float64), np.asarray(s.values, np.float64)


class ComparePlot:
    """The items of one plot for ``n_runs`` runs and ``n_groups`` groups.

    Attributes
    ----------
    curves, baselines : per run (``PlotDataItem``).
    means : per group mean curve; ``lows`` / ``highs``: the band's edges (mean - std,
        mean + std), filled by ``bands``.
    """

    def __init__(self, plot: pg.PlotItem, n_runs: int, n_groups: int) -> None:
        self.plot = plot
        self.legend = plot.addLegend(offset=(4, 4), labelTextSize="8pt")
        self.curves = [self._item(run_pen(r)) for r in range(n_runs)]
        self.baselines = [self._item(run_pen(r, dashed=True)) for r in range(n_runs)]
        self.means = [self._item(run_pen(g, width=2)) for g in range(n_groups)]
        self.lows = [pg.PlotCurveItem(pen=pg.mkPen(None)) for _ in range(n_groups)]
        self.highs = [pg.PlotCurveItem(pen=pg.mkPen(None)) for _ in range(n_groups)]
        self.bands: list[pg.FillBetweenItem] = []
        for g, (lo, hi) in enumerate(zip(self.lows, self.highs)):
            color = pg.mkColor(RUN_COLORS[g % len(RUN_COLORS)])
            color.setAlpha(BAND_ALPHA)
            band = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(color))
            band.setZValue(-5)
            plot.addItem(band)
            self.bands.append(band)
        self.zero = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#adb5bd", width=1,
                                                                   style=Qt.PenStyle.DotLine))
        plot.addItem(self.zero)
        self.zero.hide()
        self.regimes = BandsItem(alpha=REGIME_ALPHA, z=-20)   # behind the curves
        plot.addItem(self.regimes, ignoreBounds=True)

    def _item(self, pen: pg.QtGui.QPen) -> pg.PlotDataItem:
        c = pg.PlotDataItem(pen=pen, skipFiniteCheck=False, connect="finite")
        self.plot.addItem(c)
        return c

    def clear(self) -> None:
        """Empty every item and the legend."""
        for c in (*self.curves, *self.baselines, *self.means):
            c.setData([], [])
        for e in (*self.lows, *self.highs):
            e.setData(np.zeros(0), np.zeros(0))
        self.legend.clear()

    def set_band(self, g: int, x: np.ndarray, mean: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> None:
        """Group ``g``: its mean curve and the band between ``lo`` and ``hi``."""
        self.means[g].setData(x, mean)
        ok = np.isfinite(lo) & np.isfinite(hi)               # the fill needs finite edges
        self.lows[g].setData(x[ok], lo[ok])
        self.highs[g].setData(x[ok], hi[ok])

    def band_edges(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, low, high) of group ``g``'s band as drawn."""
        lo, hi = self.lows[g], self.highs[g]
        return (np.asarray(lo.xData if lo.xData is not None else []),
                np.asarray(lo.yData if lo.yData is not None else []),
                np.asarray(hi.yData if hi.yData is not None else []))

    def add_legend(self, item: pg.PlotDataItem, text: str) -> None:
        self.legend.addItem(item, text)

    def legend_texts(self) -> list[str]:
        return [label.text for _, label in self.legend.items]


__all__ = ["RUN_COLORS", "ComparePlot", "run_pen", "series_xy"]
