"""The switch-aligned view draws the mean over the windows aligned on the regime switches
of each visit group, as a direct numpy average of those windows computes it."""
from __future__ import annotations

import numpy as np

from tests.gui import retention_data as rd


def _oracle(regime: np.ndarray, values: np.ndarray, offsets: np.ndarray
            ) -> dict[str, list[np.ndarray]]:
    """Windows (k, w) around every switch that fits, grouped by the visit of the regime
    entered (the first span counts as a visit)."""
    groups: dict[str, list[np.ndarray]] = {"first": [], "second": [], "later": []}
    seen = {int(regime[0]): 1}
    for i in np.flatnonzero(np.diff(regime)) + 1:
        r = int(regime[i])
        seen[r] = seen.get(r, 0) + 1
        idx = i + offsets
        if idx[0] < 0 or idx[-1] >= len(regime):
            continue
        key = {1: "first", 2: "second"}.get(seen[r], "later")
        groups[key].append(values[:, idx])
    return groups


def test_curves_are_the_mean_of_the_aligned_windows(qtbot):
    from nlviz.qt.panels.switch_aligned import SwitchAlignedPanel
    panel = SwitchAlignedPanel()
    qtbot.addWidget(panel)
    spec, view = rd.spec(), rd.view(seed=3)
    panel.set_spec(spec)
    panel.window_spin.setValue(120)                       # 120 after, 30 before
    panel.show_view(view)
    assert (panel.before, panel.after) == (30, 120)
    surprise = spec.level_metrics.index("surprise")
    values = np.vstack([view.scalars[0], view.level[:, surprise]]).astype(np.float64)
    offsets = np.asarray(panel.aligned["first"].offsets)
    assert offsets[0] == -30 and 0 in offsets
    groups = _oracle(view.regime, values, offsets.astype(int))
    # SCHEDULE 0,1,0,2,1,0,2,0,1,0: first visits 1 and 2; second 0, 2, 1; later 0, 0, 1, 0
    assert [len(groups[k]) for k in ("first", "second", "later")] == [2, 3, 4]
    for q in (0, 3):                                      # outer loss, surprise of cms1
        panel.set_quantity(q)
        for key in ("first", "second", "later"):
            want = np.stack(groups[key])[:, q].mean(axis=0)       # (w,)
            x, y = panel.curves[key].getData()
            np.testing.assert_array_equal(x, offsets)
            np.testing.assert_allclose(y, want, rtol=1e-6)
            lo, hi = (c.getData()[1] for c in panel._edges[key])
            std = np.stack(groups[key])[:, q].std(axis=0)                     # (150,)
            blocks = lambda a: a.reshape(-1, 2).mean(axis=1)  # noqa: E731 - 150 -> 75 points
            np.testing.assert_allclose(hi, blocks(want + std), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(lo, blocks(want - std), rtol=1e-5, atol=1e-7)
    labels = [label.text for _s, label in panel.legend.items]
    assert labels == ["first visit (n=2)", "second visit (n=3)", "later visits (n=4)"]
    assert "9 regime switches" in panel.caption.text()
    shown = panel.aligned
    panel.show_view(view)                                 # same windows: not recomputed
    assert panel.aligned is shown
    panel.show_view(view.head(len(view.step) - 100))      # the last window cut short
    assert panel.aligned is not shown and panel.aligned["later"].count == 4


def test_no_switch_says_so_and_draws_nothing(qtbot):
    from nlviz.qt.panels.switch_aligned import SwitchAlignedPanel
    panel = SwitchAlignedPanel()
    qtbot.addWidget(panel)
    view = rd.view()
    view.regime[:] = 1
    panel.set_spec(rd.spec())
    panel.show_view(view)
    assert panel.caption.text() == "no regime switch in view"
    for curve in panel.curves.values():
        assert len(curve.getData()[0] if curve.getData()[0] is not None else []) == 0


def test_a_summary_view_is_resampled_and_says_so(qtbot):
    """A min/max summary holds only bucket starts (each twice): the panel averages each
    bucket's rows and interpolates between bucket starts before aligning."""
    from nlviz.qt.panels.switch_aligned import SwitchAlignedPanel, resample_summary
    step = np.repeat(np.arange(0, 100, 10), 2).astype(np.float64)           # 10 buckets
    vals = np.vstack([np.repeat(np.arange(10.0), 2) + np.tile([0.0, 1.0], 10)])  # min, max
    grid, got = resample_summary(step, vals, np.array([0, 5, 10, 15, 95, 200]))
    np.testing.assert_array_equal(grid, [0, 5, 10, 15])                     # inside only
    np.testing.assert_allclose(got[0], [0.5, 1.0, 1.5, 2.0])                # midpoints, lerp
    panel = SwitchAlignedPanel()
    qtbot.addWidget(panel)
    view = rd.view()
    keep = np.arange(0, len(view.step), 20)                                 # buckets of 20
    rows = np.repeat(keep, 2)
    summary = type(view)(view.step[rows], view.level[..., rows], view.smooth[..., rows],
                         view.fired[:, rows], view.scalars[:, rows], view.regime[rows],
                         view.total, bucket_rows=20)
    panel.set_spec(rd.spec())
    panel.window_spin.setValue(40)
    panel.show_view(summary)
    y = panel.curves["later"].getData()[1]
    assert y is not None and np.isfinite(y).all() and len(y) == 50
    assert "Approximate: the view is a min/max summary" in panel.caption.text()
