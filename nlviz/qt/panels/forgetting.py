"""Forgetting curves: probe error versus the age of the probed pair, split so that unlike
things are never on one axis.

- By quantity: Titans levels report a relative recall error, CMS levels a functional
  drift; each gets its own log-log axes.
- By regime: solid = the pair was written in the regime the model is in at evaluation
  time, dashed = written in another regime, dotted = unknown (written before the first
  step of the view the panel was given, or no view).
- Exact zeros (at or below the 1e-6 floor) are not averaged into the curves as perfect
  recall: they are counted (caption) and marked with a cross at the floor of their bin.
- The rho^age reference (what is left of a write after ``age`` retention factors rho, with
  rho the Titans memory's last retention) is drawn dotted on the recall axes.

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
from nlviz.qt.theme import level_color
from nlviz.series.views import HistoryView

FLOOR = fs.FLOOR                 # errors at or below it are exact zeros
RELATIONS = ("same", "other", "unknown")      # regime at write time vs at evaluation
RELATION_STYLES = {"same": Qt.PenStyle.SolidLine, "other": Qt.PenStyle.DashLine,
                   "unknown": Qt.PenStyle.DotLine}
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
    for side in ("left", "bottom"):
        plot.getAxis(side).enableAutoSIPrefix(False)   # a "(x0.001)" under log labels misled
    plot.showGrid(x=True, y=True, alpha=0.15)
    return plot


class ForgettingPanel(QWidget):
    """Recall (Titans) and drift (CMS) on separate axes; same vs other regime at write."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec: RunSpec | None = None
        self.bins: list[fs.ForgettingBins] = []   # the last split_forgetting result
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
        """Three curves per level (same / other / unknown regime at write time) on its
        quantity's axes."""
        self.spec = spec
        for c in self.curves.values():
            for p in self.plots.values():
                if c in p.items:
                    p.removeItem(c)
        for legend in self.legends.values():
            legend.clear()
        self.legends["titans"].addItem(self.reference, "ρ^age")
        self.curves = {}
        for i, name in enumerate(spec.level_names):
            plot = self.plots[self.quantity(i)]
            for relation in RELATIONS:
                pen = pg.mkPen(level_color(i), width=1, style=RELATION_STYLES[relation])
                pen.setCosmetic(True)
                c = pg.PlotDataItem(pen=pen, connect="finite", skipFiniteCheck=False)
                plot.addItem(c)
                self.curves[(name, relation)] = c
            self.legends[self.quantity(i)].addItem(self.curves[(name, "same")], name)
        for k in self.plots:
            has = any(self.quantity(i) == k for i in range(len(spec.levels)))
            self.plots[k].setTitle(f"{QUANTITY_TITLES[k]} — solid: written in the current "
                                   "regime, dashed: in another, dotted: unknown"
                                   if has else f"{QUANTITY_TITLES[k]} (no such level)",
                                   size="9pt")

    def clear(self, message: str) -> None:
        """No probe evaluation to show (e.g. before the first one): empty curves, and
        ``message`` as the caption."""
        for c in self.curves.values():
            c.setData([], [])
        for s in self.zero_marks.values():
            s.setData([], [])
        self.reference.setData([], [])
        self.bins = []
        self.zero_count = 0
        self.caption.setText(message)

    def set_probes(self, probes: Sequence[ProbeRecord], view: HistoryView | None = None
                   ) -> None:
        """Recompute the curves from the latest probe evaluations; ``view`` gives the
        regime of each step (write time vs evaluation time) and rho (without it, or for a
        pair written before the view's first step, the relation is "unknown")."""
        if not probes or self.spec is None:
            return
        step = np.asarray(view.step) if view is not None else np.zeros(0)
        regime = np.asarray(view.regime) if view is not None else np.zeros(0, np.int32)
        self.bins = fs.split_forgetting(list(probes), self.spec, step, regime)
        for c in self.curves.values():
            c.setData([], [])
        marks: dict[str, list[dict[str, object]]] = {k: [] for k in self.plots}
        zeros: dict[str, int] = {}
        colors = {name: level_color(i) for i, name in enumerate(self.spec.level_names)}
        centres = np.zeros(0)
        for b in self.bins:
            if b.level is None or (b.level, b.relation) not in self.curves:
                continue
            centres = bin_centres(b.edges)                                   # (B,)
            self.curves[(b.level, b.relation)].setData(centres, np.asarray(b.mean, np.float64))
            quantity = "titans" if b.quantity == "recall" else "cms"
            for j in np.flatnonzero(np.asarray(b.zeros) > 0):
                marks[quantity].append(
                    {"pos": (np.log10(centres[j]), np.log10(FLOOR)),
                     "brush": pg.mkBrush(colors[b.level]), "pen": pg.mkPen(colors[b.level]),
                     "data": (b.level, b.relation, int(b.zeros[j]))})
            zeros[b.level] = zeros.get(b.level, 0) + int(np.sum(b.zeros))
        for k, spots in marks.items():
            self.zero_marks[k].setData(spots)
        self.rho = last_rho(view, self.spec)
        if self.rho is not None and centres.size:
            self.reference.setData(centres, fs.rho_age_reference(self.rho, centres))
            self.legends["titans"].items[0][1].setText(f"ρ^age (ρ = {self.rho:.4g})")
        else:
            self.reference.setData([], [])
        self.zero_count = sum(zeros.values())
        per_level = ", ".join(f"{n} {z}" for n, z in zeros.items() if z)
        text = (f"{self.zero_count} exact zeros (≤ {FLOOR:g}) left out of the means and "
                f"marked × at the floor: {per_level}" if self.zero_count else "no exact zeros")
        self.caption.setText(f"mean of the last {len(probes)} probe evaluations (up to step "
                             f"{probes[-1].step}) per age bin; {text}.")
        self.caption.setToolTip(self.caption.text())


def bin_centres(edges: np.ndarray) -> np.ndarray:
    """(B,) x position of age bins ``[edges[i], edges[i+1])``: the geometric mean of
    ``edges[i] + 0.5`` and ``edges[i+1] - 0.5`` (positive, for the log axis: bin [0, 1),
    age 0, sits at 0.5)."""
    e = np.asarray(edges, np.float64)
    return np.sqrt((e[:-1] + 0.5) * np.maximum(e[1:] - 0.5, e[:-1] + 0.5))


__all__ = ["DecadeAxis", "ForgettingPanel", "bin_centres", "last_rho"]
