"""Per-level metric plots with a linked step axis, plus the update-cadence raster.

Passive view: ``set_levels`` builds the curve items once per level set, ``set_data``
pushes the ring-buffer views into them. Intents: ``followChanged`` (the user panned
or zoomed away from the live edge) and ``levelToggled`` (legend click).

Drawing cost: ``set_data`` hands pyqtgraph only what is visible, and when that is more
than two points per pixel it decimates first (min and max per pixel-wide bucket of steps,
buckets aligned to step numbers so peaks do not shimmer as data scrolls in, all curves
of a plot in one numpy reduction). pyqtgraph's own clip-to-view and downsampling are off:
they re-scanned all 100k points of each of the 16 curves on every frame.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.frames import METRIC_INDEX, METRIC_UNITS, RunSpec
from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.theme import level_pen
from nlviz.series.decimate import minmax_buckets, peak_bins, visible_slice
from nlviz.series.views import AT_UPDATE_METRICS, HistoryView

DEFAULT_METRICS = ("surprise", "update_norm", "retention", "lr")
TITLES = {"surprise": "surprise", "update_norm": "update magnitude ‖ΔW‖",
          "retention": "retention ρ", "lr": "inner learning rate η",
          "grad_surprise": "gradient surprise", "update_rel": "relative update",
          "momentum_norm": "momentum ‖S‖", "drift_init": "drift from init"}
SHORT = {"update_norm": "update", "lr": "lr", "grad_surprise": "grad", "update_rel": "rel. update",
         "momentum_norm": "momentum", "drift_init": "drift"}
LOG_FLOOR = 1e-12
RASTER_MAX_COLS = 2000
POINTS_PER_PIXEL = 2            # above this many visible steps per pixel: min/max buckets
Y_SHRINK_PERIOD = 0.5           # s: the y range grows at once, shrinks at most 2x a second


def _curve(pen: object) -> pg.PlotDataItem:
    return pg.PlotDataItem(pen=pen, skipFiniteCheck=True)


class MetricsPanel(QWidget):
    """Stacked plots (one per metric) sharing the step axis, and a fired raster.

    Parameters
    ----------
    metrics : names from ``LEVEL_METRICS`` to plot, top to bottom.
    """

    followChanged = Signal(bool)
    levelToggled = Signal(int, bool)

    def __init__(self, metrics: tuple[str, ...] = DEFAULT_METRICS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics = metrics
        self.curves: dict[str, list[pg.PlotDataItem]] = {m: [] for m in metrics}
        self.raw_curves: dict[str, list[pg.PlotDataItem]] = {m: [] for m in metrics}
        self._log = {m: False for m in metrics}
        self._visible: list[bool] = []
        self._smoothing = False
        self._setting_range = False
        self._names: tuple[str, ...] = ()
        self._badge_total = -1
        self._auto_y = {m: True for m in metrics}
        self._y_range: dict[str, tuple[float, float] | None] = {m: None for m in metrics}
        self._y_t = {m: 0.0 for m in metrics}
        self._y_seen: dict[str, list[float]] = {}
        self._raster_rgba = (230, 230, 230, 255)
        self._build_ui()

    # ---- construction ------------------------------------------------------------
    def _build_ui(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("log y:"))
        self.log_boxes: dict[str, QCheckBox] = {}
        for m in self.metrics:
            box = QCheckBox(SHORT.get(m, m))
            box.setToolTip(f"logarithmic y axis for {TITLES.get(m, m)}")
            box.toggled.connect(self._on_log_toggled)
            self.log_boxes[m] = box
            row.addWidget(box)
        self.badge = QLabel("")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.badge.setSizePolicy(QSizePolicy.Policy.Ignored,   # no widening
                                 QSizePolicy.Policy.Preferred)
        self.badge.setToolTip("points held in RAM; older steps live only in the recording")
        row.addWidget(self.badge, 1)
        lay.addLayout(row)
        self.graphics = pg.GraphicsLayoutWidget()
        lay.addWidget(self.graphics, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        first = None
        for i, m in enumerate(self.metrics):
            # y labels keep apart on short plots (a small window): SpacedAxis
            p = self.graphics.addPlot(row=i, col=0, axisItems={"left": SpacedAxis("left")})
            p.setTitle(TITLES.get(m, m), size="9pt")
            p.setLabel("left", units=None)
            p.getAxis("left").setWidth(56)
            p.showGrid(x=False, y=False)          # grid lines cost ~25% of the paint time
            p.getAxis("left").setToolTip(METRIC_UNITS.get(m, ""))
            if first is None:
                first = p
                self.legend = p.addLegend(offset=(4, 4), labelTextSize="8pt", colCount=8)
            else:
                p.setXLink(first)
            p.hideAxis("bottom")
            p.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
            p.getViewBox().sigRangeChangedManually.connect(
                lambda mask, m=m: self._on_manual_y(m, mask))
            p.enableAutoRange(y=False)            # y range set here, not recomputed per frame
            self.plots[m] = p
        self.raster = self.graphics.addPlot(row=len(self.metrics), col=0)
        self.raster.setTitle("update cadence (which level fired when)", size="9pt")
        self.raster.getAxis("left").setWidth(56)
        self.raster.setXLink(first)
        self.raster.setLabel("bottom", "step")
        self.raster.setMouseEnabled(y=False)
        self.raster.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        self.raster_image = pg.ImageItem(axisOrder="row-major")
        self.raster_image.setLevels([0, 1])
        self.raster.addItem(self.raster_image)
        self.graphics.ci.layout.setRowStretchFactor(len(self.metrics), 1)
        for i in range(len(self.metrics)):
            self.graphics.ci.layout.setRowStretchFactor(i, 2)

    def set_levels(self, spec: RunSpec) -> None:
        """(Re)create one smoothed and one faint raw curve per level and metric."""
        names = spec.level_names
        if names == self._names:
            return
        self._names = names
        self.legend.clear()
        for m, p in self.plots.items():
            for item in self.curves[m] + self.raw_curves[m]:
                p.removeItem(item)
            self.curves[m], self.raw_curves[m] = [], []
            for i, _ in enumerate(names):
                raw, main = _curve(level_pen(i, faint=True)), _curve(level_pen(i))
                raw.setVisible(False)
                p.addItem(raw)
                p.addItem(main)
                self.raw_curves[m].append(raw)
                self.curves[m].append(main)
        for i, name in enumerate(names):
            main = self.curves[self.metrics[0]][i]
            self.legend.addItem(main, name)
            main.visibleChanged.connect(self._on_legend_visibility)
        self._visible = [True] * len(names)
        ax = self.raster.getAxis("left")
        ax.setTicks([[(i + 0.5, n) for i, n in enumerate(names)]])
        self.raster.setYRange(0, len(names), padding=0)
        self._set_raster_lut()

    def _set_raster_lut(self) -> None:
        lut = np.zeros((2, 4), np.uint8)
        lut[1] = self._raster_rgba
        self.raster_image.setLookupTable(lut)

    def set_raster_color(self, color: str) -> None:
        """Colour of a fired cell (the theme's foreground)."""
        c = pg.mkColor(color)
        self._raster_rgba = (c.red(), c.green(), c.blue(), 255)
        self._set_raster_lut()

    # ---- setters -----------------------------------------------------------------
    def set_smoothing_on(self, on: bool) -> None:
        """Show the faint raw series behind the smoothed ones."""
        self._smoothing = on
        for m in self.metrics:
            for i, raw in enumerate(self.raw_curves[m]):
                raw.setVisible(on and self._visible[i])

    def set_level_visible(self, index: int, visible: bool) -> None:
        """Show or hide one level in every plot."""
        if index >= len(self._visible):
            return
        self._visible[index] = visible
        for m in self.metrics:
            self.curves[m][index].blockSignals(True)
            self.curves[m][index].setVisible(visible)
            self.curves[m][index].blockSignals(False)
            self.raw_curves[m][index].setVisible(visible and self._smoothing)

    def set_log_y(self, metric: str, on: bool) -> None:
        """Logarithmic y for one plot (values <= 0 are clipped to 1e-12)."""
        self._log[metric] = on
        box = self.log_boxes[metric]
        if box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        self.plots[metric].setLogMode(x=False, y=on)
        self._y_range[metric] = None

    def set_data(self, view: HistoryView) -> None:
        """Point every curve at the visible part of the history: the raw steps (zero-copy
        where possible) or, above two steps per pixel, min/max per pixel bucket."""
        x = view.step
        n = len(x)
        pixels = max(100, int(self.raster.getViewBox().width()))
        lo, hi = 0, n
        if n > POINTS_PER_PIXEL * pixels:
            x0, x1 = self.raster.viewRange()[0]
            lo, hi = visible_slice(x, x0, x1)
        k = int(np.ceil((hi - lo) / pixels)) if hi - lo > POINTS_PER_PIXEL * pixels else 1
        for m in self.metrics:
            self._y_seen[m] = [np.inf, -np.inf]
            if k > 1:
                self._set_decimated(m, view, lo, hi, k)
                self._apply_y(m)
                continue
            mi = METRIC_INDEX[m]
            masked = m in AT_UPDATE_METRICS
            for li, (main, raw) in enumerate(zip(self.curves[m], self.raw_curves[m])):
                if li >= view.level.shape[0] or not self._visible[li]:
                    continue
                xs, ys, ss = x[lo:hi], view.level[li, mi, lo:hi], view.smooth[li, mi, lo:hi]
                if masked:
                    sel = view.fired[li, lo:hi] > 0
                    xs, ys, ss = xs[sel], ys[sel], ss[sel]
                if self._log[m]:
                    ys, ss = np.maximum(ys, LOG_FLOOR), np.maximum(ss, LOG_FLOOR)
                main.setData(xs, ss if self._smoothing else ys)
                self._see_y(m, ss if self._smoothing else ys)
                if self._smoothing:
                    raw.setData(xs, ys)
                    self._see_y(m, ys)
            self._apply_y(m)
        if view.total != self._badge_total:
            self._badge_total = view.total
            self.badge.setText(f"{n:,} steps in view buffer (of {view.total:,})"
                               + (f"; min/max of {k} steps per pixel" if k > 1 else ""))

    def _set_decimated(self, m: str, view: HistoryView, lo: int, hi: int, k: int) -> None:
        """All levels of one plot: min/max buckets (one reduction) + the exact raw tail."""
        mi = METRIC_INDEX[m]
        L = min(view.level.shape[0], len(self.curves[m]))
        mask = view.fired[:L] if m in AT_UPDATE_METRICS else None
        x = view.step
        series = [("main", view.smooth if self._smoothing else view.level)]
        if self._smoothing:
            series.append(("raw", view.level))
        for which, src in series:
            y = src[:L, mi]
            bx, mn, mx, tail = minmax_buckets(x, y, lo, hi, k, mask)
            xs = np.repeat(bx, 2)
            ys = np.stack((mn, mx), -1).reshape(L, -1)
            for li in range(L):
                if not self._visible[li]:
                    continue
                xl, yl = np.concatenate((xs, x[tail:hi])), np.concatenate((ys[li], y[li, tail:hi]))
                if mask is not None:
                    keep = np.isfinite(yl)
                    keep[2 * len(bx):] = mask[li, tail:hi] > 0
                    xl, yl = xl[keep], yl[keep]
                if self._log[m]:
                    yl = np.maximum(yl, LOG_FLOOR)
                item = self.curves[m][li] if which == "main" else self.raw_curves[m][li]
                item.setData(xl, yl)
                self._see_y(m, yl)

    # ---- y range: grows at once, shrinks at most twice a second, never per-item ------
    def _see_y(self, m: str, y: np.ndarray) -> None:
        if len(y):
            seen = self._y_seen[m]
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanmin(y), np.nanmax(y)
            if np.isfinite(lo):
                seen[0] = min(seen[0], float(lo))
            if np.isfinite(hi):
                seen[1] = max(seen[1], float(hi))

    def _apply_y(self, m: str) -> None:
        vb = self.plots[m].getViewBox()
        if vb.state["autoRange"][1] is not False:     # the user pressed pyqtgraph's "A"
            vb.enableAutoRange(y=False)
            self._auto_y[m], self._y_range[m] = True, None
        lo, hi = self._y_seen.get(m, (np.inf, -np.inf))
        if not self._auto_y[m] or not (np.isfinite(lo) and np.isfinite(hi)):
            return
        if self._log[m]:
            lo, hi = np.log10(max(lo, LOG_FLOOR)), np.log10(max(hi, LOG_FLOOR))
        cur, now = self._y_range[m], time.monotonic()
        if cur is not None and cur[0] <= lo and hi <= cur[1] and not (
                now - self._y_t[m] > Y_SHRINK_PERIOD and hi - lo < 0.6 * (cur[1] - cur[0])):
            return
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
        self._y_range[m], self._y_t[m] = (lo - pad, hi + pad), now
        self.plots[m].setYRange(lo - pad, hi + pad, padding=0)

    def set_auto_y(self) -> None:
        """Fit y to the data again (after the user zoomed y)."""
        for m in self.metrics:
            self._auto_y[m], self._y_range[m] = True, None

    def _on_manual_y(self, m: str, mask: Sequence[object]) -> None:
        try:
            y_changed = bool(mask[1])       # pyqtgraph: [x changed, y changed]
        except (TypeError, IndexError):
            y_changed = True
        if y_changed:
            self._auto_y[m] = False

    def set_raster(self, view: HistoryView) -> None:
        """Draw which level fired at each step of the visible x range (max-binned)."""
        if len(view.step) == 0:
            return
        x0, x1 = self.raster.viewRange()[0]
        lo = int(np.searchsorted(view.step, x0))
        hi = int(np.searchsorted(view.step, x1, side="right"))
        if hi - lo < 1:
            return
        fired = view.fired[:, lo:hi]
        cols = hi - lo
        pixels = max(50, min(RASTER_MAX_COLS, int(self.raster.getViewBox().width())))
        k = max(1, int(np.ceil(cols / pixels)))            # peak-bin to the pixel width
        fired = peak_bins(fired, k)
        self.raster_image.setImage(fired, autoLevels=False, levels=(0, 1))
        first = float(view.step[lo])
        self.raster_image.setRect(first, 0, float(cols), fired.shape[0])

    def set_x_window(self, last_step: float, width: float) -> None:
        """Follow live: show ``[last - width, last]``."""
        self.set_x_range(max(0.0, last_step - width), last_step + 1)

    def set_x_range(self, x0: float, x1: float) -> None:
        """Show steps ``[x0, x1]`` on the shared step axis (1 % padding)."""
        self._setting_range = True
        self.plots[self.metrics[0]].setXRange(x0, x1, padding=0.01)
        self._setting_range = False

    # ---- handlers ----------------------------------------------------------------
    def _on_manual_range(self, *_: object) -> None:
        self.followChanged.emit(False)

    def _on_log_toggled(self, on: bool) -> None:
        for m, box in self.log_boxes.items():
            if box is self.sender():
                self.set_log_y(m, on)

    def _on_legend_visibility(self) -> None:
        first = self.curves[self.metrics[0]]
        for i, item in enumerate(first):
            if item.isVisible() != self._visible[i]:
                self.set_level_visible(i, item.isVisible())
                self.levelToggled.emit(i, item.isVisible())


__all__ = ["DEFAULT_METRICS", "MetricsPanel", "minmax_buckets", "visible_slice"]
