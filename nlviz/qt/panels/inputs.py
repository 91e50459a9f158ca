"""The current input: a bar of the vector, a strip of recent vectors, text and regime."""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nlviz.qt.panels.axes import SpacedAxis
from nlviz.series.views import InputSlot


def _char(byte: int) -> str:
    if byte in (10, 13):
        return "⏎"
    if byte == 9:
        return "⇥"
    return chr(byte) if 32 <= byte < 127 else "·"


class InputPanel(QWidget):
    """Bar chart of x_t, a waterfall of the last inputs, the text tail and the regime."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.regime_label = QLabel("regime: -")
        self.regime_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.regime_label)
        self.text_label = QLabel("")
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setStyleSheet("font-family: monospace;")
        self.text_label.setVisible(False)
        lay.addWidget(self.text_label)
        self.graphics = pg.GraphicsLayoutWidget()
        # y axes that keep their labels apart however short the dock ("8642" overlapped)
        self.bar_plot = self.graphics.addPlot(row=0, col=0,
                                              axisItems={"left": SpacedAxis("left")})
        self.bar_plot.setTitle("current input x_t", size="9pt")
        self.bar_plot.hideButtons()
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#4ea1ff")
        self.bar_plot.addItem(self.bars)
        self.strip_plot = self.graphics.addPlot(row=1, col=0,
                                                axisItems={"left": SpacedAxis("left")})
        self.strip_plot.setTitle("recent inputs (time →, one row per dimension)", size="9pt")
        self.strip_plot.hideButtons()
        self.strip = pg.ImageItem(axisOrder="row-major")
        self.strip.setColorMap(pg.colormap.get("CET-D1"))
        self.strip_plot.addItem(self.strip)
        lay.addWidget(self.graphics, 1)
        self.regime_names: tuple[str, ...] = ()

    def set_regime_names(self, names: tuple[str, ...]) -> None:
        """Names of the stream's regimes (indexed by the regime column)."""
        self.regime_names = names

    def set_input(self, slot: InputSlot) -> None:
        """Show the most recent inputs."""
        x = slot.inputs
        if len(x) == 0:
            return
        cur = x[-1]
        self.bars.setOpts(x=np.arange(len(cur)), height=cur, width=0.8)
        v = float(np.abs(x).max()) or 1.0
        self.strip.setImage(np.ascontiguousarray(x.T), autoLevels=False, levels=(-v, v))
        r = int(slot.regime[-1])
        name = self.regime_names[r] if 0 <= r < len(self.regime_names) else str(r)
        self.regime_label.setText(f"step <b>{slot.step}</b> &nbsp; regime: <b>{html.escape(name)}</b>")
        tokens = slot.token
        is_text = len(tokens) and tokens[-1] >= 0
        self.text_label.setVisible(bool(is_text))
        if is_text:
            tail = "".join(_char(int(t)) for t in tokens[-60:-1] if t >= 0)
            cur_ch = _char(int(tokens[-1]))
            self.text_label.setText(f"{html.escape(tail)}<span style='background:#4ea1ff;"
                                    f"color:#000'>{html.escape(cur_ch)}</span>")
