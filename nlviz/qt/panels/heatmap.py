"""Heatmap of one level's memory matrix (or its last update) with a colour bar.

The colour range follows the data: each snapshot gets a symmetric range ±v from a robust
maximum of its own matrix (the 99th percentile of |x|, so one outlier does not wash the
rest out), shown on the colour bar and in the caption. (A range fixed at the first
snapshot faded to flat as the weights grew or shrank.) "hold range" keeps the current
range, to watch drift and growth against a fixed scale.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.frames import RunSpec, SnapshotRecord
from nlviz.qt.panels.axes import SpacedAxis


class HeatmapPanel(QWidget):
    """Level picker, weights/update switch, image with a colour bar."""

    levelChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._held: dict[tuple[int, bool], float] = {}     # (level, update view) -> v
        self._last: SnapshotRecord | None = None
        self._cursor: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.level_box = QComboBox()
        self.level_box.setToolTip("which level's main weight matrix W2 to show")
        self.level_box.currentIndexChanged.connect(self._on_choice)
        row.addWidget(self.level_box)
        self.weights_radio = QRadioButton("weights")
        self.update_radio = QRadioButton("update")
        self.update_radio.setToolTip("the last update ΔW2")
        self.weights_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.weights_radio)
        group.addButton(self.update_radio)
        self.weights_radio.toggled.connect(self._on_choice)
        row.addWidget(self.weights_radio)
        row.addWidget(self.update_radio)
        self.hold_box = QCheckBox("hold range")
        self.hold_box.setToolTip("keep the current colour range (watch drift and growth); "
                                 "off: the range follows each snapshot")
        self.hold_box.toggled.connect(self._on_hold)
        row.addStretch(1)
        lay.addLayout(row)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(axisItems={"left": SpacedAxis("left"),
                                                     "bottom": SpacedAxis("bottom")})
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get("CET-D1"),
                                        interactive=False, width=12)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        lay.addWidget(self.graphics, 1)
        self.caption = QLabel("no snapshot yet")
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # no widening
        bottom = QHBoxLayout()
        bottom.addWidget(self.caption, 1)
        bottom.addWidget(self.hold_box)
        lay.addLayout(bottom)

    def set_levels(self, spec: RunSpec) -> None:
        """Offer the run's levels; keep the current choice if it still exists."""
        current = self.level_box.currentText()
        self.level_box.blockSignals(True)
        self.level_box.clear()
        for lv in spec.levels:
            r, c = lv.snapshot_shape
            self.level_box.addItem(lv.name, f"{lv.kind}, period {lv.update_period}, {r}x{c}")
        idx = self.level_box.findText(current)
        self.level_box.setCurrentIndex(max(idx, 0))
        self.level_box.blockSignals(False)
        self._held.clear()
        self._last = None

    @property
    def level(self) -> int:
        """Selected level index."""
        return max(0, self.level_box.currentIndex())

    @property
    def show_update(self) -> bool:
        """True when the last update (not the weights) is shown."""
        return self.update_radio.isChecked()

    @property
    def color_range(self) -> tuple[float, float]:
        """The colour bar's current (low, high)."""
        lo, hi = self.colorbar.levels()
        return float(lo), float(hi)

    def set_snapshot(self, snap: SnapshotRecord, cursor: int | None = None) -> None:
        """Show the selected level of ``snap`` (float32), coloured ±robust max (or the
        held range). ``cursor``: the step the viewer is at (a replay); the caption says
        when the snapshot is only the nearest one to it."""
        self._last, self._cursor = snap, cursor
        li = self.level
        mats = snap.updates if self.show_update else snap.weights
        if li >= len(mats):
            return
        mat = np.ascontiguousarray(mats[li], np.float32)
        key = (li, self.show_update)
        if self.hold_box.isChecked():
            v = self._held.setdefault(key, symmetric_level(mat))
        else:
            v = symmetric_level(mat)
        self.image.setImage(mat, autoLevels=False, levels=(-v, v))
        self.colorbar.setLevels((-v, v))
        what = "last update ΔW2" if self.show_update else "W2"
        how = "held" if self.hold_box.isChecked() else "this snapshot"
        near = (f" (nearest snapshot to step {cursor:,})"
                if cursor is not None and cursor != snap.step else "")
        self.caption.setText(f"{self.level_box.currentText()} {what} at step {snap.step} "
                             f"({mat.shape[0]}x{mat.shape[1]}, colour ±{v:.3g}, {how}){near}")
        self.caption.setToolTip(self.caption.text())

    def rescale(self) -> None:
        """Refit the colour range to the shown matrix (also the held one)."""
        self._held.pop((self.level, self.show_update), None)
        if self._last is not None:
            self.set_snapshot(self._last, self._cursor)

    def _on_hold(self, on: bool) -> None:
        self._held.clear()               # hold from the range shown now
        if self._last is not None:
            self.set_snapshot(self._last, self._cursor)

    def _on_choice(self, *_: object) -> None:
        self.levelChanged.emit(self.level)
        if self._last is not None:
            self.set_snapshot(self._last, self._cursor)


ROBUST_QUANTILE = 99.0          # percentile of |x| that sets the colour range
HEADROOM = 1.1


def symmetric_level(mat: np.ndarray) -> float:
    """``v`` for a symmetric colour range ±v: the 99th percentile of the finite |x| (the
    entry at or below it; the maximum when that is 0) with 10 % headroom; 1.0 for an
    all-zero or empty matrix."""
    finite = np.abs(mat[np.isfinite(mat)])
    if finite.size == 0:
        return 1.0
    v = float(np.percentile(finite, ROBUST_QUANTILE, method="lower"))  # a real entry: on
    # a small matrix (8x8) the largest one is left out, so a lone outlier saturates
    if v <= 0:
        v = float(finite.max())
    return v * HEADROOM if v > 0 else 1.0
