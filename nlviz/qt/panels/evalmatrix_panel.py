"""Evaluation matrix: frozen held-out loss of each regime (rows) at each evaluation step
(columns), continual learning's accuracy matrix drawn as a heatmap over time.

The colours are the ``EvalRecord.losses`` of the regular evaluations (variant ""), as
``nlviz.analysis.evalmatrix.matrix`` lays them out; the caption gives the forgetting
and backward-transfer numbers of ``nlviz.analysis.evalmatrix``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.frames import EvalRecord, RunSpec
from nlviz.analysis import evalmatrix
from nlviz.analysis.switches import Span
from nlviz.qt.panels.axes import SpacedAxis

CAPTION_HELP = (
    "Each column: the model after that step, weights frozen (no inner writes), scored on a "
    "held-out window of every regime (rows); copy-last-input: the loss of repeating the "
    "previous input on the same windows (last evaluation).\n"
    "Forgetting of a regime: final loss − best earlier loss (> 0: lost what it once knew; "
    "≤ 0: the final evaluation is the best yet).\n"
    "Backward transfer: loss at the first evaluation after the regime was last trained − "
    "final loss (> 0: later training on other regimes helped, < 0: it hurt); n/a for the "
    "regime running at the end or one never trained in the steps shown.")
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
        self.forgetting = np.zeros(0)                      # (R,)
        self.backward_transfer = np.zeros(0)               # (R,)
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

    def set_evals(self, evals: Sequence[EvalRecord], spans: Sequence[Span] = ()) -> None:
        """Draw the regular evaluations (variant "") of ``evals`` (oldest first);
        ``spans`` (the regime spans the run went through) date each regime's last training
        for the backward transfer."""
        records: list[Any] = list(evals)      # EvalRecord is read-only; EvalLike says fields
        steps, loss = evalmatrix.matrix(records)
        self.steps = np.asarray(steps, np.int64)
        self.loss = np.asarray(loss, np.float32)
        if len(self.steps) == 0 or self.loss.size == 0:
            self.loss = np.zeros((len(self.steps), 0), np.float32)
            self.image.clear()
            self.forgetting = self.backward_transfer = np.zeros(0)
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
        copy = evalmatrix.matrix(records, field="copy")[1]                  # (T, R)
        self.forgetting = np.asarray(evalmatrix.forgetting(self.loss), np.float64)
        self.backward_transfer = np.asarray(
            evalmatrix.backward_transfer(self.steps, self.loss, list(spans)), np.float64)
        self.caption.setText(
            f"{len(self.steps)} frozen evaluations, steps {int(self.steps[0]):,}–"
            f"{int(self.steps[-1]):,}; colour {lo:.3g}–{hi:.3g}; copy-last-input "
            f"{per_regime(names, copy[-1])}<br><b>forgetting</b> "
            f"{per_regime(names, self.forgetting)} · <b>backward transfer</b> "
            f"{per_regime(names, self.backward_transfer)}")
        self.caption.setToolTip(CAPTION_HELP)


def per_regime(names: Sequence[str], values: np.ndarray) -> str:
    """``"mean 0.12 (sine 0.1, square 0.14, noise n/a)"``: the finite mean and each value."""
    v = np.asarray(values, np.float64)
    mean = evalmatrix.mean_finite(v) if v.size else float("nan")
    each = ", ".join(f"{n} {x:.3g}" if np.isfinite(x) else f"{n} n/a"
                     for n, x in zip(names, v))
    return f"mean {mean:.3g} ({each})" if np.isfinite(mean) else f"n/a ({each})"


__all__ = ["EvalMatrixPanel", "per_regime", "step_ticks"]
