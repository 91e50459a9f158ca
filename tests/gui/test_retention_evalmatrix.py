"""The evaluation-matrix heatmap shows the EvalRecords' held-out losses: one row per
regime (named from the spec), one column per regular evaluation."""
from __future__ import annotations

import numpy as np

from engine.frames import EvalRecord
from tests.gui import retention_data as rd


def test_image_is_the_losses_of_the_regular_evaluations(qtbot):
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
    # forgetting of a regime: final minus best earlier loss, computed here directly
    final, best = want[:, -1], np.nanmin(want[:, :-1], axis=1)
    np.testing.assert_allclose(panel.forgetting, final - best, rtol=1e-6)
    text = panel.caption.text()
    assert "6 frozen evaluations" in text
    assert f"sine {final[0] - best[0]:.3g}" in text
    copy = evals[-1].copy
    assert f"copy-last-input mean {copy.astype(np.float64).mean():.3g}" in text
    assert np.all(np.isnan(panel.backward_transfer))        # no spans: never trained


def test_backward_transfer_uses_the_spans_of_the_view(qtbot):
    from nlviz.analysis.switches import regime_spans
    from nlviz.qt.panels.evalmatrix_panel import EvalMatrixPanel
    panel = EvalMatrixPanel()
    qtbot.addWidget(panel)
    panel.set_spec(rd.spec())
    view = rd.view()
    evals = rd.evals(n=5, seed=4)                       # after steps 399, 799, ... 1999
    spans = regime_spans(view.step, view.regime)
    panel.set_evals(evals, spans)
    loss = np.stack([e.losses for e in evals]).astype(np.float64)         # (T, R)
    # regime 1 (square) last trained in steps 1600-1799: first evaluation after it is the
    # one after step 1999 = the final one -> NaN; regime 2 (noise) in 1200-1399 -> 1599
    assert np.isnan(panel.backward_transfer[1])
    np.testing.assert_allclose(panel.backward_transfer[2], loss[3, 2] - loss[4, 2])
    assert np.isnan(panel.backward_transfer[0])         # the regime at the final step


def test_no_evaluation_clears_the_image(qtbot):
    from nlviz.qt.panels.evalmatrix_panel import EvalMatrixPanel
    panel = EvalMatrixPanel()
    qtbot.addWidget(panel)
    panel.set_spec(rd.spec())
    panel.set_evals(rd.evals())
    panel.set_evals([])
    assert panel.image.image is None and "no evaluation" in panel.caption.text()
