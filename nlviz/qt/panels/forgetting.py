"""Forgetting curves: probe error versus the age of the probed pair, split so that unlike
things are never on one axis.

- By quantity: Titans levels report a relative recall error, CMS levels a functional
  drift; each gets its own log-log axes.
- By regime: solid = the pair was written in the regime the model is in at evaluation
  time, dashed = written in another regime (or before the steps in view: unknown).
- Exact zeros (at or below the 1e-6 floor) are not averaged into the curves as perfect
  recall: they are counted (caption) and marked with a cross at the floor of their bin.
- The ρ^age reference (what is left of a write after ``age`` retention factors ρ, with ρ
  the Titans memory's last retention) is drawn dotted on the recall axes.

The numbers come from ``nlviz.analysis.forgetting_split``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.frames import ProbeRecord, RunSpec
from nlviz.analysis import forgetting_split as fs
from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.theme import level_color, level_pen
from nlviz.series.views import HistoryView

FLOOR = 1e-6                     # errors at or below it are exact zeros
SPLITS = ("same", "other")
QUANTITY_TITLES = {"titans": "Titans: relative recall error", "cms": "CMS: functional drift"}


class DecadeAxis(SpacedAxis):
    """Log axis that labels only the powers of ten (minor ticks keep their marks and grid
    lines): on short runs the minor labels ("3·10¹4·10¹5·10¹…") ran into each other.
    A range inside one decade, with no power of ten to label, keeps pyqtgraph's labels."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        strings = super().logTickStrings(values, scale, spacing)   # thinned to fit
        lo, hi = sorted(self.range)
        if np.floor(hi) < np.ceil(lo):            # no power of ten in view
            return strings
        return [s if abs(v - round(v)) < 1e-9 else "" for v, s in zip(values, strings)]


def last_rho(view: HistoryView | None, spec: RunSpec | None) -> float | None:
    """The Titans ``memory`` level's last finite retention factor in ``view`` (None when
    there is none)."""
    if view is None or spec is None or "retention" not in spec.level_metrics:
        return None
    names = spec.level_names
    if "memory" not in names:
        return None
    li, m = names.index("memory"), spec.level_metrics.index("retention")
    if li >= view.level.shape[0]:
        return None
    col = np.asarray(view.level[li, m], np.float64)
    ok = np.flatnonzero(np.isfinite(col) & (col > 0))
    return float(col[ok[-1]]) if ok.size else None


def _new_plot(title: str) -> pg.PlotItem:
    plot = pg.PlotItem(axisItems={"bottom": DecadeAxis("bottom"), "left": SpacedAxis("left")})
    plot.setTitle(title, size="9pt")
    plot.setLogMode(x=True, y=True)
    plot.setLabel("bottom", "age of the probed pair (steps)")
    plot.setLabel("left", "error (log)")
    plot.showGrid(x=True, y=True, alpha=0.15)
    return plot


class ForgettingPanel(QWidget):
    """Recall (Titans) and drift (CMS) on separate axes; same vs other regime at write."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec: RunSpec | None = None
        self.split: object | None = None          # the last forgetting_split result
        self.zero_count = 0
        self.rho: float | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plots = {"titans": _new_plot(QUANTITY_TITLES["titans"]),
                      "cms": _new_plot(QUANTITY_TITLES["cms"])}
        self.graphics.addItem(self.plots["titans"], row=0, col=0)
        self.graphics.addItem(self.plots["cms"], row=1, col=0)
        self.plot = self.plots["titans"]                     # the exported plot
        self.legends = {k: p.addLegend(offset=(4, 4), labelTextSize="8pt")
                        for k, p in self.plots.items()}
        self.reference = pg.PlotDataItem(pen=pg.mkPen("#bbbbbb", style=Qt.PenStyle.DotLine))
        self.plots["titans"].addItem(self.reference)
        self.legends["titans"].addItem(self.reference, "ρ^age")
        self.zero_marks = {k: pg.ScatterPlotItem(symbol="x", size=9, pen=None)
                           for k in self.plots}
        for k, p in self.plots.items():
            p.addItem(self.zero_marks[k])
        lay.addWidget(self.graphics, 1)
        self.caption = QLabel("no probe evaluation yet")
        self.caption.setWordWrap(True)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.caption)
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}   # (level, split) -> curve

    def quantity(self, level: int) -> str:
        """``"titans"`` or ``"cms"``: which axes level ``level`` is drawn on."""
        assert self.spec is not None
        return "cms" if self.spec.levels[level].kind == "cms" else "titans"

    def set_levels(self, spec: RunSpec) -> None:
        """Two curves per level (same / other regime at write time) on its quantity's axes."""
        self.spec = spec
        for (name, _s), c in self.curves.items():
            for p in self.plots.values():
                if c in p.items:
                    p.removeItem(c)
        for k, legend in self.legends.items():
            legend.clear()
        self.legends["titans"].addItem(self.reference, "ρ^age")
        self.curves = {}
        for i, name in enumerate(spec.level_names):
            plot = self.plots[self.quantity(i)]
            for split in SPLITS:
                pen = level_pen(i)
                if split == "other":
                    pen = pg.mkPen(level_color(i), width=1, style=Qt.PenStyle.DashLine)
                c = pg.PlotDataItem(pen=pen, connect="finite", skipFiniteCheck=False)
                plot.addItem(c)
                self.curves[(name, split)] = c
            self.legends[self.quantity(i)].addItem(self.curves[(name, "same")], name)
        for k, legend in self.legends.items():
            if not any(self.quantity(i) == k for i in range(len(spec.levels))):
                self.plots[k].setTitle(f"{QUANTITY_TITLES[k]} (no such level)", size="9pt")
            else:
                self.plots[k].setTitle(f"{QUANTITY_TITLES[k]} — solid: written in the "
                                       "current regime, dashed: in another", size="9pt")

    def clear(self, message: str) -> None:
        """No probe evaluation to show (e.g. before the first one): empty curves, and
        ``message`` as the caption."""
        for c in self.curves.values():
            c.setData([], [])
        for s in self.zero_marks.values():
            s.setData([], [])
        self.reference.setData([], [])
        self.caption.setText(message)

    def set_probes(self, probes: Sequence[ProbeRecord], view: HistoryView | None = None
                   ) -> None:
        """Recompute the curves from the latest probe evaluations; ``view`` gives the
        regime of each step (write time vs evaluation time) and ρ (without it every pair
        counts as written in another regime)."""
        if not probes or self.spec is None:
            return
        step = np.asarray(view.step) if view is not None else np.zeros(0)
        regime = np.asarray(view.regime) if view is not None else np.zeros(0, np.int32)
        split = fs.split_forgetting(list(probes), step, regime)
        self.split = split
        centres = np.asarray(split.centres, np.float64)
        marks: dict[str, list[dict[str, object]]] = {k: [] for k in self.plots}
        for i, name in enumerate(self.spec.level_names):
            for s in SPLITS:
                y = np.asarray(getattr(split, s)[i], np.float64)
                self.curves[(name, s)].setData(centres, y)
            for b in np.flatnonzero(np.asarray(split.zeros[i]) > 0):
                marks[self.quantity(i)].append(
                    {"pos": (np.log10(centres[b]), np.log10(FLOOR)),
                     "brush": pg.mkBrush(level_color(i)), "pen": pg.mkPen(level_color(i)),
                     "data": (name, int(split.zeros[i][b]))})
        for k, spots in marks.items():
            self.zero_marks[k].setData(spots)
        self.rho = last_rho(view, self.spec)
        if self.rho is not None and centres.size:
            self.reference.setData(centres, fs.rho_age_reference(self.rho, centres))
            self.legends["titans"].items[0][1].setText(f"ρ^age (ρ = {self.rho:.4g})")
        else:
            self.reference.setData([], [])
        self.zero_count = int(np.sum(split.n_zeros))
        per_level = ", ".join(f"{n} {int(z)}" for n, z in zip(self.spec.level_names,
                                                              split.n_zeros) if z)
        zeros = (f"{self.zero_count} exact zeros (≤ {FLOOR:g}) left out of the means and "
                 f"marked × at the floor: {per_level}" if self.zero_count
                 else "no exact zeros")
        self.caption.setText(f"mean of the last {len(probes)} probe evaluations (up to step "
                             f"{probes[-1].step}) per age bin; {zeros}.")
        self.caption.setToolTip(self.caption.text())


__all__ = ["DecadeAxis", "ForgettingPanel", "last_rho"]
