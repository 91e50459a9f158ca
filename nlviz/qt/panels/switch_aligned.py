"""Switch-aligned view: loss and per-level surprise averaged over windows aligned on the
regime switches, split by the visit of the regime entered (first, second, later).

Offset 0 is the first step of the new regime. Each curve is the mean over the windows of
its visit group with a ±1 std band (drawn as block means of at most ``BAND_POINTS``
points); the legend gives the number of windows. Windows that
run past the view are averaged over the steps they have (``nlviz.analysis.retention``).
"""
from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.frames import RunSpec
from nlviz.analysis.retention import Aligned, switch_aligned
from nlviz.analysis.switches import Switch, regime_switches
from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.panels.blocks import block_mean
from nlviz.series.views import HistoryView

VISITS = ("first", "second", "later")
VISIT_COLORS = {"first": "#5da5ff", "second": "#ffa94d", "later": "#51cf66"}
VISIT_TITLES = {"first": "first visit", "second": "second visit", "later": "later visits"}
AUTO_MIN, AUTO_MAX = 8, 5_000      # bounds of the automatic window (steps after a switch)
BAND_POINTS = 120                  # the ±std band is drawn as block means of this many


def auto_window(switch_steps: np.ndarray) -> int:
    """Steps after a switch to show: 80 % of the median gap between switches, clipped to
    [AUTO_MIN, AUTO_MAX] (AUTO_MAX // 10 when there are fewer than two switches)."""
    if len(switch_steps) < 2:
        return AUTO_MAX // 10
    gap = float(np.median(np.diff(switch_steps)))
    return int(np.clip(0.8 * gap, AUTO_MIN, AUTO_MAX))


def aligned_values(view: HistoryView, spec: RunSpec) -> tuple[list[str], np.ndarray]:
    """The quantities the view averages: outer loss then each level's surprise.

    Returns
    -------
    (names (k,), values (k, n) float64) with k = 1 + L.
    """
    n = len(view.step)
    g = spec.global_metrics.index("outer_loss") if "outer_loss" in spec.global_metrics else -1
    loss = (view.scalars[g].astype(np.float64) if 0 <= g < view.scalars.shape[0]
            else np.full(n, np.nan))
    names = ["outer loss"]
    rows = [loss]
    if "surprise" in spec.level_metrics:
        m = spec.level_metrics.index("surprise")
        for li, name in enumerate(spec.level_names):
            if li < view.level.shape[0]:
                names.append(f"surprise · {name}")
                rows.append(view.level[li, m].astype(np.float64))
    return names, np.vstack(rows)                          # (k, n)


def resample_summary(step: np.ndarray, values: np.ndarray, at: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Values of a min/max summary at the steps ``at``: each bucket's rows (min, max) are
    averaged, then interpolated linearly between bucket starts (an approximation the
    caption states).

    Parameters
    ----------
    step : (n,) summary steps, each bucket's first step repeated for its rows.
    values : (k, n).
    at : (m,) the steps wanted.

    Returns
    -------
    (grid (g,) sorted unique steps of ``at`` inside the summary's range, (k, g) values).
    """
    s = np.asarray(step, np.float64)
    v = np.asarray(values, np.float64)
    if len(s) == 0:
        return np.zeros(0, np.int64), np.zeros((v.shape[0], 0))
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])                   # (B,)
    counts = np.diff(np.r_[starts, len(s)])                                  # (B,)
    mid = np.add.reduceat(np.nan_to_num(v), starts, axis=1) / counts         # (k, B)
    grid = np.unique(np.asarray(at, np.int64))
    grid = grid[(grid >= s[0]) & (grid <= s[-1])]                            # (g,)
    out = np.vstack([np.interp(grid, s[starts], row) for row in mid]) if len(mid) else \
        np.zeros((0, len(grid)))
    return grid, out


def window_key(step: np.ndarray, switches: list[Switch], before: int, after: int,
               summary: bool) -> Hashable:
    """What the aligned averages depend on besides the recorded values of the steps
    involved (which never change): the switches, the window, and how much of the first
    and the last window the view holds (the last one in 5 % steps of ``after``, so a
    live run recomputes about 20 times while a window fills, not every frame)."""
    if not switches or len(step) == 0:
        return (summary, before, after, 0)
    first, last = switches[0].step, switches[-1].step
    head = min(first - int(step[0]), before)
    tail = min(int(step[-1]) - last, after) // max(1, after // 20)
    return (summary, before, after, len(switches), first, last, head, tail)


class SwitchAlignedPanel(QWidget):
    """Quantity picker, window length, one plot: mean ± std per visit group."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec: RunSpec | None = None
        self.names: list[str] = []
        self.aligned: dict[str, Aligned] = {}        # the last result (all quantities)
        self.before = self.after = 0
        self._args: tuple[HistoryView, RunSpec] | None = None
        self._key: Hashable = None            # what the shown averages were computed from
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.quantity_box = QComboBox()
        self.quantity_box.setToolTip("what is averaged over the aligned windows")
        self.quantity_box.currentIndexChanged.connect(lambda _i: self._draw())
        row.addWidget(self.quantity_box)
        row.addWidget(QLabel("steps after"))
        self.window_spin = QSpinBox()
        self.window_spin.setRange(0, 1_000_000)
        self.window_spin.setSpecialValueText("auto")
        self.window_spin.setToolTip("steps shown after each switch (a quarter of it before); "
                                    "auto: 80 % of the median gap between switches")
        self.window_spin.valueChanged.connect(lambda _v: self.recompute())
        row.addWidget(self.window_spin)
        self.log_box = QCheckBox("log y")
        row.addWidget(self.log_box)
        row.addStretch(1)
        lay.addLayout(row)
        self.plot_widget = pg.PlotWidget(axisItems={"left": SpacedAxis("left"),
                                                    "bottom": SpacedAxis("bottom")})
        self.plot = self.plot_widget.getPlotItem()
        self.log_box.toggled.connect(lambda on: self.plot.setLogMode(y=on))
        self.plot.setLabel("bottom", "steps since the regime switch")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(4, 4), labelTextSize="8pt")
        zero = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.plot.addItem(zero, ignoreBounds=True)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.bands: dict[str, pg.FillBetweenItem] = {}
        self._edges: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        for key in VISITS:
            color = pg.mkColor(VISIT_COLORS[key])
            edge = pg.mkPen(with_alpha(color, 0))      # invisible edges (pen None: no path)
            lo, hi = pg.PlotDataItem(pen=edge), pg.PlotDataItem(pen=edge)
            fill = with_alpha(color, 70)
            band = pg.FillBetweenItem(lo, hi, brush=fill)
            curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1), connect="finite")
            for item in (lo, hi, band):
                self.plot.addItem(item)
            self.plot.addItem(curve)
            self.legend.addItem(curve, VISIT_TITLES[key])
            self.curves[key], self.bands[key], self._edges[key] = curve, band, (lo, hi)
        self.caption = QLabel("no regime switch yet")
        self.caption.setWordWrap(True)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.plot_widget, 1)
        lay.addWidget(self.caption)

    def set_spec(self, spec: RunSpec) -> None:
        """Offer the run's quantities (outer loss, each level's surprise)."""
        self.spec = spec
        names = ["outer loss", *(f"surprise · {n}" for n in spec.level_names)]
        current = self.quantity_box.currentText()
        self.quantity_box.blockSignals(True)
        self.quantity_box.clear()
        self.quantity_box.addItems(names)
        self.quantity_box.setCurrentIndex(max(0, self.quantity_box.findText(current)))
        self.quantity_box.blockSignals(False)
        self.aligned = {}
        self._args = self._key = None
        self._draw()

    def set_quantity(self, index: int) -> None:
        """Show quantity ``index`` (0 = outer loss, 1 + l = surprise of level l)."""
        self.quantity_box.setCurrentIndex(index)

    def show_view(self, view: HistoryView) -> None:
        """Average the view's windows around its regime switches and draw them."""
        if self.spec is None:
            return
        self._args = (view, self.spec)
        self.recompute()

    def recompute(self) -> None:
        """Recompute the aligned averages from the last view (e.g. the window changed);
        skipped when ``window_key`` says they cannot have changed."""
        if self._args is None:
            return
        view, spec = self._args
        step = np.asarray(view.step)
        switches = regime_switches(step, np.asarray(view.regime))
        after = self.window_spin.value() or auto_window(np.array([s.step for s in switches]))
        self.before, self.after = max(1, after // 4), after
        key = window_key(step, switches, self.before, self.after, view.is_summary)
        if key == self._key:                 # the same windows hold the same rows
            return
        self._key = key
        self.names, values = aligned_values(view, spec)
        if view.is_summary and switches:            # bucket starts only: resample first
            offsets = np.arange(-self.before, self.after)
            at = np.concatenate([sw.step + offsets for sw in switches])
            step, values = resample_summary(step, values, at)
        self.aligned = switch_aligned(step, values, switches, self.before, self.after)
        counts = ", ".join(f"{VISIT_TITLES[k]} {self.aligned[k].count}" for k in VISITS
                           if k in self.aligned)
        summary = (" Approximate: the view is a min/max summary (bucket midpoints "
                   "interpolated); zoom in for exact rows."
                   if view.is_summary else "")
        self.caption.setText(
            f"mean ± 1 std over windows aligned on the {len(switches)} regime switches in "
            f"view ({counts}; steps outside the view are left out); visit = how often the "
            f"regime entered has been seen.{summary}" if switches else "no regime switch in view")
        self._draw()

    def _draw(self) -> None:
        q = max(0, self.quantity_box.currentIndex())
        self.plot.setLabel("left", self.quantity_box.currentText() or "value")
        for key in VISITS:
            a = self.aligned.get(key)
            curve, band, (lo, hi) = self.curves[key], self.bands[key], self._edges[key]
            if a is None or a.count == 0 or q >= a.mean.shape[0]:
                for item in (curve, lo, hi):
                    item.setData([], [])
                band.setVisible(False)
                self._set_legend(key, 0)
                continue
            x = np.asarray(a.offsets, np.float64)
            mean, std = a.mean[q], np.nan_to_num(a.std[q])
            curve.setData(x, mean)
            bx, blo, _k = block_mean(x, mean - std, BAND_POINTS)   # a band of noisy
            _bx, bhi, _k = block_mean(x, mean + std, BAND_POINTS)  # steps costs a frame
            lo.setData(bx, blo)
            hi.setData(bx, bhi)
            band.setVisible(True)
            self._set_legend(key, a.count)

    def _set_legend(self, key: str, count: int) -> None:
        for sample, label in self.legend.items:
            if sample.item is self.curves[key]:
                label.setText(f"{VISIT_TITLES[key]} (n={count})")


def with_alpha(color: QColor, alpha: int) -> QColor:
    """``color`` with transparency ``alpha`` (0-255)."""
    c = QColor(color)
    c.setAlpha(alpha)
    return c


__all__ = ["SwitchAlignedPanel", "aligned_values", "auto_window", "resample_summary",
           "window_key"]
