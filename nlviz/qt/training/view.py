"""``TrainingView``: the passive view of a training recording.

Four stacked plots share the outer-step axis: (a) the training loss per task (one colour
each) with its held-out loss as dashed lines through points of the same colour, and the
total, on a log y axis; (b) the gradient norm per parameter group, log y; (c) the gate
statistics; (d) the learning rate. A line above them sums up the file. The view draws
what it is given (``set_names``, ``set_data``) and reads nothing itself.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.theme import DARK, Theme, level_color

PLOTS = ("loss", "grad_norm", "gates", "lr")
TITLES = {"loss": "training loss per task (dashed, points: held-out)",
          "grad_norm": "gradient norm per parameter group",
          "gates": "gate statistics", "lr": "learning rate"}
LOG_Y = {"loss": True, "grad_norm": True, "gates": False, "lr": False}
LEGEND = ("loss", "grad_norm", "gates")       # plots with a legend (lr has one curve)
TOTAL = "total"


def _pen(index: int, dashed: bool = False, width: float = 1.0) -> pg.QtGui.QPen:
    pen = pg.mkPen(level_color(index), width=width)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    return pen


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    return x[ok], y[ok]


class TrainingView(QWidget):
    """Curves of one training recording. After ``set_names``: ``loss_curves``,
    ``heldout_curves`` (by task), ``total_curve``, ``grad_curves`` (by group),
    ``gate_curves`` (by statistic) and ``lr_curve`` hold the plotted data."""

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel("no training recording open")
        self.header.setContentsMargins(6, 2, 6, 2)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.header)
        self.graphics = pg.GraphicsLayoutWidget()
        lay.addWidget(self.graphics, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        first: pg.PlotItem | None = None
        for row, name in enumerate(PLOTS):
            p = self.graphics.addPlot(row=row, col=0, axisItems={"left": SpacedAxis("left")})
            p.setTitle(TITLES[name], size="9pt")
            p.getAxis("left").setWidth(56)
            p.setLogMode(y=LOG_Y[name])
            p.showGrid(x=True, y=True, alpha=0.15)
            if name in LEGEND:
                back = QColor(theme.background)
                back.setAlpha(200)
                self.legends[name] = p.addLegend(offset=(-4, 4), labelTextSize="8pt",
                                                 brush=pg.mkBrush(back),
                                                 labelTextColor=theme.foreground)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            if name != PLOTS[-1]:
                p.hideAxis("bottom")
            self.plots[name] = p
        self.plots[PLOTS[-1]].setLabel("bottom", "outer step")
        for row, stretch in enumerate((3, 2, 2, 1)):
            self.graphics.ci.layout.setRowStretchFactor(row, stretch)
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.heldout_curves: dict[str, pg.PlotDataItem] = {}
        self.grad_curves: dict[str, pg.PlotDataItem] = {}
        self.gate_curves: dict[str, pg.PlotDataItem] = {}
        self.total_curve: pg.PlotDataItem | None = None
        self.lr_curve: pg.PlotDataItem | None = None

    def set_names(self, tasks: Sequence[str], groups: Sequence[str],
                  gate_stats: Sequence[str]) -> None:
        """(Re)create the curves: one per task (with its held-out points), group and
        gate statistic, the total loss and the learning rate (in the text colour)."""
        foreground = self.theme.foreground
        for p in self.plots.values():
            p.clear()
        for legend in self.legends.values():
            legend.clear()
        loss = self.plots["loss"]
        self.loss_curves, self.heldout_curves = {}, {}
        for i, t in enumerate(tasks):
            self.loss_curves[t] = loss.plot(name=t, pen=_pen(i), connect="finite")
            self.heldout_curves[t] = loss.plot(pen=_pen(i, dashed=True), symbol="o",
                                               symbolSize=5, symbolPen=None,
                                               symbolBrush=level_color(i))
        total_pen = pg.mkPen(foreground, width=1.5)
        total_pen.setCosmetic(True)
        self.total_curve = loss.plot(name=TOTAL, pen=total_pen, connect="finite")
        self.grad_curves = {g: self.plots["grad_norm"].plot(name=g, pen=_pen(i),
                                                            connect="finite")
                            for i, g in enumerate(groups)}
        self.gate_curves = {s: self.plots["gates"].plot(name=s, pen=_pen(i), connect="finite")
                            for i, s in enumerate(gate_stats)}
        lr_pen = pg.mkPen(foreground, width=1)
        lr_pen.setCosmetic(True)
        self.lr_curve = self.plots["lr"].plot(pen=lr_pen, connect="finite")

    def set_data(self, columns: Mapping[str, np.ndarray]) -> None:
        """Plot the recording's columns (``"step"``, ``"loss/<task>"``, ... as read by
        ``TrainingRecording.column``). Per-task curves get only their finite rows: a task
        without an episode in a step, or a step without evaluation, is bridged, not a gap."""
        x = np.asarray(columns["step"], np.float64)
        for t, c in self.loss_curves.items():
            c.setData(*_finite(x, columns[f"loss/{t}"]))
        for t, c in self.heldout_curves.items():
            c.setData(*_finite(x, columns[f"heldout/{t}"]))
        if self.total_curve is not None:
            self.total_curve.setData(x, columns["loss/total"])
        for g, c in self.grad_curves.items():
            c.setData(x, columns[f"grad_norm/{g}"])
        for s, c in self.gate_curves.items():
            c.setData(x, columns[f"gates/{s}"])
        if self.lr_curve is not None:
            self.lr_curve.setData(x, columns["lr"])

    def set_header(self, text: str) -> None:
        """The summary line above the plots."""
        self.header.setText(text)
        self.header.setToolTip(text)


__all__ = ["PLOTS", "TrainingView"]
