"""Heatmap of one level's memory matrix (or its last update), fixed colour levels.

Colour levels are fixed per (level, view) the first time a matrix is shown (so drift
and growth stay visible) and only change on "rescale".
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QHBoxLayout, QLabel, QPushButton,
                               QRadioButton, QVBoxLayout, QWidget)

from engine.frames import RunSpec, SnapshotRecord


class HeatmapPanel(QWidget):
    """Level picker, weights/update switch, image with a colour bar."""

    levelChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._levels: dict[tuple[int, bool], float] = {}
        self._last: SnapshotRecord | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.level_box = QComboBox()
        self.level_box.setToolTip("which level's main weight matrix W2 to show")
        self.level_box.currentIndexChanged.connect(self._on_choice)
        row.addWidget(self.level_box)
        self.weights_radio = QRadioButton("weights")
        self.update_radio = QRadioButton("last update")
        self.weights_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.weights_radio)
        group.addButton(self.update_radio)
        self.weights_radio.toggled.connect(self._on_choice)
        row.addWidget(self.weights_radio)
        row.addWidget(self.update_radio)
        rescale = QPushButton("rescale")
        rescale.setToolTip("fit the colour levels to the current matrix")
        rescale.clicked.connect(self.rescale)
        row.addWidget(rescale)
        row.addStretch(1)
        lay.addLayout(row)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot()
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
        lay.addWidget(self.caption)

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
        self._levels.clear()
        self._last = None

    @property
    def level(self) -> int:
        """Selected level index."""
        return max(0, self.level_box.currentIndex())

    @property
    def show_update(self) -> bool:
        """True when the last update (not the weights) is shown."""
        return self.update_radio.isChecked()

    def set_snapshot(self, snap: SnapshotRecord) -> None:
        """Show the selected level of ``snap`` (float32, fixed levels)."""
        self._last = snap
        li = self.level
        mats = snap.updates if self.show_update else snap.weights
        if li >= len(mats):
            return
        mat = np.ascontiguousarray(mats[li], np.float32)
        key = (li, self.show_update)
        if key not in self._levels:
            self._levels[key] = _symmetric_level(mat)
        v = self._levels[key]
        self.image.setImage(mat, autoLevels=False, levels=(-v, v))
        self.colorbar.setLevels((-v, v))
        what = "last update ΔW2" if self.show_update else "W2"
        self.caption.setText(f"{self.level_box.currentText()} {what} at step {snap.step} "
                             f"({mat.shape[0]}x{mat.shape[1]}, colour range ±{v:.3g})")

    def rescale(self) -> None:
        """Refit the fixed colour range of the shown matrix."""
        self._levels.pop((self.level, self.show_update), None)
        if self._last is not None:
            self.set_snapshot(self._last)

    def _on_choice(self, *_: object) -> None:
        self.levelChanged.emit(self.level)
        if self._last is not None:
            self.set_snapshot(self._last)


def _symmetric_level(mat: np.ndarray) -> float:
    finite = mat[np.isfinite(mat)]
    v = float(np.abs(finite).max()) if finite.size else 1.0
    return v * 1.25 if v > 0 else 1.0
