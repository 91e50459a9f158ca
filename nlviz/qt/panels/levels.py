"""One small plot per level (small multiples: shared step axis, own y axis), each
labelled with what the level is ("memory · every token", "cms3 · every 64" and any
constants), and the two gate rows (eta, rho) where a gate shared by several Titans memories
is drawn once.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.panels.drawing import Window, YRange, curve, rows_xy
from nlviz.qt.theme import level_pen

AXIS_WIDTH = 64                  # every row's left axis: the rows' step axes line up


def row_plot(spaced: bool = True) -> pg.PlotItem:
    """A plot of the stack: spaced y labels, no own x axis, no grid (grid lines cost ~25%
    of the paint time)."""
    p = pg.PlotItem(axisItems={"left": SpacedAxis("left")} if spaced else None)
    p.getAxis("left").setWidth(AXIS_WIDTH)
    for name in ("left", "bottom"):            # SI prefixes re-render the label's HTML on
        p.getAxis(name).enableAutoSIPrefix(False)   # every range change (all linked plots)
    p.hideAxis("bottom")
    p.showGrid(x=False, y=False)
    p.setMenuEnabled(True)
    return p


def set_title(plot: pg.PlotItem, text: str | None) -> None:
    """``plot``'s title in 8 pt that never sets the window's minimum width (a long title
    is cut in a narrow window instead)."""
    plot.setTitle(text, size="8pt")
    label = plot.titleLabel
    label.setMinimumWidth(0)
    hint = label._sizeHint.get(Qt.SizeHint.MinimumSize)
    if hint is not None:
        label._sizeHint[Qt.SizeHint.MinimumSize] = (0, hint[1])
    label.updateGeometry()


def corner_label(plot: pg.PlotItem, text: str) -> pg.TextItem:
    """A caption fixed in the plot's top-left corner on a translucent backing (it does
    not pan with the data, and curves under it stay readable)."""
    label = pg.TextItem(text, color="#e6e8ec", fill=pg.mkBrush(21, 23, 28, 170),
                        anchor=(0, 0))
    label.setParentItem(plot.getViewBox())
    label.setPos(2, 0)
    label.setZValue(30)
    return label


class LevelRows:
    """The per-level plots. Attributes (index = level): ``plots``, ``curves`` (main:
    smoothed when smoothing is on), ``raw`` (faint raw), ``labels`` (``TextItem``;
    ``texts`` holds their plain text), ``y`` (``YRange``)."""

    def __init__(self) -> None:
        self.plots: list[pg.PlotItem] = []
        self.curves: list[pg.PlotDataItem] = []
        self.raw: list[pg.PlotDataItem] = []
        self.labels: list[pg.TextItem] = []
        self.texts: list[str] = []
        self.y: list[YRange] = []
        self.pool: list[pg.PlotItem] = []       # every row plot made (reused by ``build``)
        self._parts: list[tuple[pg.PlotDataItem, pg.PlotDataItem, pg.TextItem, YRange]] = []

    def build(self, n: int) -> list[pg.PlotItem]:
        """Use ``n`` rows (made once, reused across runs); returns the new plots that the
        caller must link and lay out."""
        new = []
        while len(self.pool) < n:
            i = len(self.pool)
            p = row_plot()
            raw, main = curve(level_pen(i, faint=True)), curve(level_pen(i))
            raw.setVisible(False)
            p.addItem(raw)
            p.addItem(main)
            self.pool.append(p)
            self._parts.append((raw, main, corner_label(p, ""), YRange(p)))
            new.append(p)
        self.plots = self.pool[:n]
        self.raw = [r for r, _, _, _ in self._parts[:n]]
        self.curves = [c for _, c, _, _ in self._parts[:n]]
        self.labels = [lb for _, _, lb, _ in self._parts[:n]]
        self.y = [y for _, _, _, y in self._parts[:n]]
        for c in (*self.raw, *self.curves):
            c.setData([], [])
        for y in self.y:
            y.reset()
        self.texts = [""] * n
        return new

    def set_texts(self, texts: Sequence[str]) -> None:
        """The rows' captions."""
        self.texts = list(texts)
        for label, text in zip(self.labels, texts, strict=False):
            label.setText(text)

    def draw(self, x: np.ndarray, values: np.ndarray, mask: np.ndarray | None, w: Window,
             raw_values: np.ndarray | None, visible: Sequence[bool], log: bool) -> None:
        """Point row ``i`` at ``values[i]`` (and the faint ``raw_values[i]``) in window ``w``."""
        L = min(len(self.plots), values.shape[0])
        rows = [i for i in range(L) if visible[i]]
        if not rows:
            return
        main = rows_xy(x, values[rows], w, None if mask is None else mask[rows], log)
        faint = (rows_xy(x, raw_values[rows], w, None if mask is None else mask[rows], log)
                 if raw_values is not None else [None] * len(rows))
        for i, (mx, my), f in zip(rows, main, faint, strict=True):
            y = self.y[i]
            y.begin()
            self.curves[i].setData(mx, my)
            y.see(my)
            if f is not None:
                self.raw[i].setData(*f)
                y.see(f[1])
            y.apply()


class GateRows:
    """The eta and rho rows. ``groups[gate]`` lists (caption, level indices) per curve: a gate
    shared by several Titans memories is one curve for all of them."""

    GATES: ClassVar[tuple[str, ...]] = ("lr", "retention")
    TITLES: ClassVar[dict[str, str]] = {"lr": "η inner learning rate", "retention": "ρ retention"}

    def __init__(self) -> None:
        self.plots = {g: row_plot() for g in self.GATES}
        self.labels = {g: corner_label(p, self.TITLES[g]) for g, p in self.plots.items()}
        self.texts = dict(self.TITLES)
        self.y = {g: YRange(p) for g, p in self.plots.items()}
        self.curves: dict[str, list[pg.PlotDataItem]] = {g: [] for g in self.GATES}
        self.groups: dict[str, list[tuple[str, list[int]]]] = {g: [] for g in self.GATES}

    def set_groups(self, groups: dict[str, list[tuple[str, list[int]]]],
                   notes: dict[str, str] | None = None) -> None:
        """One curve per (caption, levels) group of each gate (drawn from its first level);
        ``notes[gate]`` is appended to the caption (constants not plotted)."""
        if groups == self.groups and not notes:
            return
        self.groups = {g: list(groups.get(g, [])) for g in self.GATES}
        for g, p in self.plots.items():
            for item in self.curves[g]:
                p.removeItem(item)
            self.curves[g] = []
            for _, levels in self.groups[g]:
                item = curve(level_pen(levels[0]))
                p.addItem(item)
                self.curves[g].append(item)
            captions = "; ".join(c for c, _ in self.groups[g]) or "no data-dependent gate"
            note = (notes or {}).get(g, "")
            self.texts[g] = f"{self.TITLES[g]} · {captions}" + (f" · {note}" if note else "")
            self.labels[g].setText(self.texts[g])

    def draw(self, x: np.ndarray, gate_values: dict[str, np.ndarray], w: Window,
             log: bool) -> None:
        """``gate_values[gate]`` (L, n): the gate column of every level."""
        for g in self.GATES:
            y = self.y[g]
            y.begin()
            groups = self.groups[g]
            if groups:
                firsts = [levels[0] for _, levels in groups]
                for item, (gx, gy) in zip(self.curves[g], rows_xy(
                        x, gate_values[g][firsts], w, None, log), strict=True):
                    item.setData(gx, gy)
                    y.see(gy)
            y.apply()


__all__ = ["AXIS_WIDTH", "GateRows", "LevelRows", "corner_label", "row_plot"]
