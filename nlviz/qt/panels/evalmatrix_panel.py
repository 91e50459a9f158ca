"""Evaluation matrix: frozen held-out loss of each regime (rows) at each evaluation step
(columns), continual learning's accuracy matrix drawn as a heatmap over time.

The colours are the ``EvalRecord.losses`` of the regular evaluations (variant ""), as
``nlviz.analysis.evalmatrix.matrix`` lays them out; the caption gives the forgetting
and backward-transfer numbers of ``nlviz.analysis.evalmatrix``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.frames import EvalRecord, RunSpec
from nlviz.analysis import evalmatrix
from nlviz.qt.panels.axes import SpacedAxis

MAX_STEP_LABELS = 8        # step labels on the x axis (the rest of the columns unlabelled)


def step_ticks(steps: np.ndarray, n: int = MAX_STEP_LABELS) -> list[tuple[float, str]]:
    """Ticks at the centres of at most ``n`` evenly chosen columns, labelled with their
    evaluation step."""
    if len(steps) == 0:
        return []
    idx = np.unique(np.linspace(0, len(steps) - 1, min(n, len(steps))).round().astype(int))
    return [(float(i) + 0.5, f"{int(steps[i]):,}") for i in idx]


class EvalMatrixPanel(QWidget):
    """Heatmap (regimes x evaluation steps) with a colour bar and a numbers caption."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.regime_names: tuple[str, ...] = ()
        self.steps = np.zeros(0, np.int64)                 # (T,)
        self.loss = np.zeros((0, 0), np.float32)           # (T, R)
        self.forgetting = self.backward_transfer = float("nan")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.left_axis = pg.AxisItem("left")
        self.bottom_axis = SpacedAxis("bottom")
        self.plot = self.graphics.addPlot(axisItems={"left": self.left_axis,
                                                     "bottom": self.bottom_axis})
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setLabel("bottom", "evaluated after step")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, width=12,
                                        label="frozen held-out loss")
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        lay.addWidget(self.graphics, 1)
        self.caption = QLabel("no evaluation yet (run.eval_every = 0 turns them off)")
        self.caption.setWordWrap(True)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.caption)

    def set_spec(self, spec: RunSpec) -> None:
        """Row labels from the run's regime names."""
        self.regime_names = tuple(spec.regime_names)
        self.set_evals([])

    def row_names(self, n_rows: int) -> list[str]:
        """Label of each row: the regime's name, or ``regime <r>`` where none is known."""
        return [self.regime_names[r] if r < len(self.regime_names) else f"regime {r}"
                for r in range(n_rows)]

    def set_evals(self, evals: Sequence[EvalRecord]) -> None:
        """Draw the regular evaluations (variant "") of ``evals`` (oldest first)."""
        steps, loss = evalmatrix.matrix(list(evals))
        self.steps = np.asarray(steps, np.int64)
        self.loss = np.asarray(loss, np.float32)
        if len(self.steps) == 0 or self.loss.size == 0:
            self.loss = np.zeros((len(self.steps), 0), np.float32)
            self.image.clear()
            self.forgetting = self.backward_transfer = float("nan")
            self.caption.setText("no evaluation at or before this step "
                                 "(run.eval_every = 0 turns them off)")
            return
        img = np.ascontiguousarray(self.loss.T)           # (R, T): rows = regimes
        finite = img[np.isfinite(img)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1e-9
        self.image.setImage(img, autoLevels=False, levels=(lo, hi))
        self.image.setRect(0, 0, img.shape[1], img.shape[0])
        self.colorbar.setLevels((lo, hi))
        names = self.row_names(img.shape[0])
        self.left_axis.setTicks([[(r + 0.5, name) for r, name in enumerate(names)]])
        self.bottom_axis.setTicks([step_ticks(self.steps)])
        self.plot.setRange(xRange=(0, img.shape[1]), yRange=(0, img.shape[0]), padding=0)
        self.forgetting = float(evalmatrix.forgetting(self.steps, self.loss))
        self.backward_transfer = float(evalmatrix.backward_transfer(self.steps, self.loss))
        self.caption.setText(
            f"{len(self.steps)} evaluations of frozen weights on held-out windows of "
            f"{img.shape[0]} regime(s), steps {int(self.steps[0]):,}–{int(self.steps[-1]):,}; "
            f"colour {lo:.3g}–{hi:.3g}. Forgetting {self.forgetting:.4g}, backward transfer "
            f"{self.backward_transfer:.4g} (see nlviz.analysis.evalmatrix for the "
            "definitions and signs).")
        self.caption.setToolTip(self.caption.text())


__all__ = ["EvalMatrixPanel", "step_ticks"]
