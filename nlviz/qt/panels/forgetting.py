"""Forgetting curves: probe recall error versus the age of the probed pair, per level.

Averaged over the last few probe evaluations and binned on a log age axis.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.frames import ProbeRecord, RunSpec
from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.theme import level_pen

N_BINS = 12


def bin_errors(probes: Sequence[ProbeRecord], n_levels: int, n_bins: int = N_BINS
               ) -> tuple[np.ndarray, np.ndarray]:
    """Mean error per (level, age bin) over ``probes``.

    Returns
    -------
    (centres (B,), means (L, B)) with NaN where a bin is empty.
    """
    ages = np.concatenate([p.ages for p in probes]) if probes else np.zeros(0)
    errs = (np.concatenate([p.errors for p in probes], axis=1) if probes
            else np.zeros((n_levels, 0)))
    ok = ages >= 0
    ages, errs = ages[ok].astype(np.float64), errs[:, ok]
    if ages.size == 0:
        return np.zeros(0), np.zeros((n_levels, 0))
    edges = np.unique(np.geomspace(1, max(2.0, ages.max() + 1), n_bins + 1).round())
    idx = np.clip(np.searchsorted(edges, ages + 1, side="right") - 1, 0, len(edges) - 2)
    centres = np.sqrt(edges[:-1] * edges[1:])
    means = np.full((errs.shape[0], len(centres)), np.nan)
    for b in range(len(centres)):
        sel = idx == b
        if sel.any():
            with np.errstate(all="ignore"):
                means[:, b] = np.nanmean(errs[:, sel], axis=1)
    return centres, means


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


class ForgettingPanel(QWidget):
    """One curve per level: mean recall error (Titans) or drift (CMS) by pair age."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        # y: log error, labels thinned to what fits ("0.90.80.7…" ran together)
        self.plot_widget = pg.PlotWidget(axisItems={"bottom": DecadeAxis("bottom"),
                                                    "left": SpacedAxis("left")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=True, y=True)
        self.plot.setLabel("bottom", "age of the probed pair (steps)")
        self.plot.setLabel("left", "error (log)")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(4, 4), labelTextSize="8pt")
        lay.addWidget(self.plot_widget, 1)
        self.caption = QLabel("Titans levels: relative recall error; CMS levels: functional drift")
        self.caption.setWordWrap(True)
        lay.addWidget(self.caption)
        self.curves: list[pg.PlotDataItem] = []

    def set_levels(self, spec: RunSpec) -> None:
        """One curve per level."""
        for c in self.curves:
            self.plot.removeItem(c)
        self.legend.clear()
        self.curves = []
        for i, name in enumerate(spec.level_names):
            # lines only: per-point symbols made this the slowest paint of the window
            c = pg.PlotDataItem(pen=level_pen(i), connect="finite", skipFiniteCheck=False)
            self.plot.addItem(c)
            self.legend.addItem(c, name)
            self.curves.append(c)

    def clear(self, message: str) -> None:
        """No probe evaluation to show (e.g. before the first one): empty curves, and
        ``message`` as the caption."""
        for c in self.curves:
            c.setData([], [])
        self.caption.setText(message)

    def set_probes(self, probes: Sequence[ProbeRecord]) -> None:
        """Recompute the binned curves from the latest probe evaluations."""
        if not probes:
            return
        centres, means = bin_errors(probes, len(self.curves))
        for i, c in enumerate(self.curves):
            if i < means.shape[0]:
                c.setData(centres, np.maximum(means[i], 1e-6))   # log y: clip at 1e-6
        self.caption.setText(f"mean of the last {len(probes)} probe evaluations "
                             f"(up to step {probes[-1].step}); Titans: recall error, "
                             "CMS: functional drift")
