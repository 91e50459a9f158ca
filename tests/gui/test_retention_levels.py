"""The levels tab: contribution curves are the recorded column; the knock-out / restore
action emits the chosen level and step; ``show_ablation`` shows the given numbers; an
ablation answer arriving with the evaluations is shown by ``show_frame``."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from engine.frames import EvalRecord
from tests.gui import retention_data as rd


def _panels(qtbot):
    from nlviz.qt.panels.retention import RetentionPanels
    panels = RetentionPanels()
    qtbot.addWidget(panels)
    panels.set_spec(rd.spec())
    return panels


def test_contribution_curves_and_ablatable_levels(qtbot):
    panels = _panels(qtbot)
    view = rd.view()
    panels.setCurrentWidget(panels.levels)
    panels.show_frame(view, [], [])
    lv = panels.levels
    m = rd.METRICS.index("contribution")
    assert set(lv.curves) == {"memory", "cms1", "cms2"}              # k steers: no curve
    for li, name in enumerate(rd.spec().level_names):
        if name in lv.curves:                       # 2000 rows: blocks of 2 steps
            x, y = lv.curves[name].getData()
            np.testing.assert_allclose(x, view.step.reshape(-1, 2).mean(1))
            np.testing.assert_allclose(y, view.level[li, m].astype(np.float64)
                                       .reshape(-1, 2).mean(1), rtol=1e-12)
    assert "mean of 2-row blocks" in lv.plot.getAxis("bottom").labelText
    assert [lv.level_box.itemText(i) for i in range(lv.level_box.count())] == [
        "memory", "cms1", "cms2"]
    assert lv.step_spin.value() == int(view.step[-1])                # the cursor


def test_block_mean_ignores_nan_and_keeps_a_short_last_block():
    from nlviz.qt.panels.blocks import block_mean
    step = np.arange(7, dtype=np.float64)
    vals = np.array([1.0, 3.0, np.nan, 5.0, np.nan, np.nan, 8.0])
    x, y, k = block_mean(step, vals, max_points=3)
    assert k == 3
    np.testing.assert_array_equal(x, [1.0, 4.0, 6.0])
    np.testing.assert_array_equal(y, [2.0, 5.0, 8.0])
    x, y, k = block_mean(step[:3], vals[:3], max_points=3)
    assert k == 1 and np.isnan(y[2])


def test_ablation_signal_carries_level_and_step(qtbot):
    panels = _panels(qtbot)
    panels.setCurrentWidget(panels.levels)
    panels.show_frame(rd.view(), [], [])
    lv = panels.levels
    lv.level_box.setCurrentText("cms2")
    with qtbot.waitSignal(panels.ablationRequested) as blocker:
        qtbot.mouseClick(lv.knockout_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cms2", None]
    lv.level_box.setCurrentText("memory")
    lv.step_spin.setValue(1234)
    lv.step_spin.editingFinished.emit()                # the user's step stays put
    panels.show_frame(rd.view(), [], [])
    assert lv.step_spin.value() == 1234
    with qtbot.waitSignal(panels.ablationRequested) as blocker:
        qtbot.mouseClick(lv.restore_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["memory", 1234]


def test_restore_uses_the_newest_kept_state_at_or_before_the_step(qtbot):
    panels = _panels(qtbot)
    lv = panels.levels
    panels.set_state_steps([1023, 2047, 3071])
    lv.set_cursor(2500)
    with qtbot.waitSignal(panels.ablationRequested) as blocker:
        qtbot.mouseClick(lv.restore_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["memory", 2047] and lv.step_spin.value() == 2047
    lv.set_cursor(10)                                   # before every state: the first
    assert lv.restore_target() == 1023
    panels.set_state_steps(None)                        # live: unknown, sent as chosen
    assert lv.restore_target() == 10


def test_show_ablation_displays_the_numbers(qtbot):
    panels = _panels(qtbot)
    intact = EvalRecord(999, np.array([0.5, 0.25, 2.0], np.float32),
                        np.zeros(3, np.float32))
    ablated = EvalRecord(999, np.array([0.75, 0.125, np.nan], np.float32),
                         np.zeros(3, np.float32), "restore:cms1@640")
    panels.show_ablation([intact, ablated])
    t = panels.levels.table
    assert t.rowCount() == 3
    assert [t.item(r, 0).text() for r in range(3)] == list(rd.REGIMES)
    role = Qt.ItemDataRole.UserRole
    got = np.array([[t.item(r, c).data(role) for c in (1, 2, 3)] for r in range(3)])
    want = np.array([[0.5, 0.75, 0.25], [0.25, 0.125, -0.125], [2.0, np.nan, np.nan]])
    np.testing.assert_array_equal(got, want)
    assert t.item(0, 1).text() == "0.5" and t.item(2, 2).text() == "n/a"
    np.testing.assert_array_equal(panels.levels.ablated_bars.opts["height"],
                                  [0.75, 0.125, 0.0])
    assert "cms1 restored to step 640" in panels.levels.result_label.text()


def test_an_ablation_among_the_evaluations_is_shown_once(qtbot):
    panels = _panels(qtbot)
    evals = rd.evals(n=3)
    knocked = EvalRecord(evals[-1].step, evals[-1].losses * 2, evals[-1].copy,
                         "knockout:memory")
    panels.show_frame(rd.view(), [], [*evals, knocked])
    t = panels.levels.table
    role = Qt.ItemDataRole.UserRole
    np.testing.assert_allclose([t.item(r, 2).data(role) for r in range(3)],
                               evals[-1].losses * 2)
    np.testing.assert_allclose([t.item(r, 1).data(role) for r in range(3)], evals[-1].losses)
    mine = EvalRecord(7, np.ones(3, np.float32), np.ones(3, np.float32), "knockout:cms1")
    panels.show_ablation([mine])                   # e.g. a replay answer
    panels.show_frame(rd.view(), [], [*evals, knocked])   # same answer: not shown again
    assert t.item(0, 2).data(role) == 1.0
