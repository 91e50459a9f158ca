"""The evaluation-matrix heatmap shows the EvalRecords' held-out losses: one row per
regime (named from the spec), one column per regular evaluation."""
from __future__ import annotations

import numpy as np

from engine.frames import EvalRecord
from tests.gui import retention_data as rd


def test_image_is_the_losses_of_the_regular_evaluations(qtbot):
    from nlviz.analysis import evalmatrix
    from nlviz.qt.panels.evalmatrix_panel import EvalMatrixPanel
    panel = EvalMatrixPanel()
    qtbot.addWidget(panel)
    panel.set_spec(rd.spec())
    evals = rd.evals(n=6, seed=2)
    evals[2].losses[1] = np.nan                                 # a regime with no window
    knocked = EvalRecord(evals[-1].step, evals[-1].losses + 5, evals[-1].copy,
                         "knockout:cms1")                       # not a column
    panel.set_evals([*evals, knocked])
    want = np.stack([e.losses for e in evals]).T                # (R, T)
    np.testing.assert_array_equal(panel.image.image, want)
    np.testing.assert_array_equal(panel.steps, [e.step for e in evals])
    ticks = panel.left_axis._tickLevels[0]
    assert [name for _y, name in ticks] == list(rd.REGIMES)
    finite = want[np.isfinite(want)]
    assert panel.colorbar.levels() == (float(finite.min()), float(finite.max()))
    f = evalmatrix.forgetting(panel.steps, panel.loss)
    b = evalmatrix.backward_transfer(panel.steps, panel.loss)
    text = panel.caption.text()
    assert f"Forgetting {f:.4g}" in text and f"backward transfer {b:.4g}" in text
    assert "6 evaluations" in text


def test_no_evaluation_clears_the_image(qtbot):
    from nlviz.qt.panels.evalmatrix_panel import EvalMatrixPanel
    panel = EvalMatrixPanel()
    qtbot.addWidget(panel)
    panel.set_spec(rd.spec())
    panel.set_evals(rd.evals())
    panel.set_evals([])
    assert panel.image.image is None and "no evaluation" in panel.caption.text()
