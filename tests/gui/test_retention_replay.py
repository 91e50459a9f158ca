"""A replay knock-out on a real recording: the levels tab shows what
``nlviz.replay.ablation.ablate_recorded`` computes for the cursor's step, and the
retention tabs get the recording's spec when it opens."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.replay.conftest import record_session


@pytest.fixture
def replay_with_retention(qtbot):
    """A replay window whose deck has the retention tabs (added here while the deck does
    not build them itself) and its controller."""
    from nlviz.qt.panels.retention import RetentionPanels
    from nlviz.qt.replay.controller import ReplayController
    from nlviz.qt.replay.window import replay_window
    window = replay_window()
    qtbot.addWidget(window)
    retention = getattr(window.deck, "retention", None)
    if retention is None:
        retention = RetentionPanels()
        qtbot.addWidget(retention)
        window.deck.retention = retention
    rc = ReplayController(window.front)
    yield window, rc, retention
    rc.shutdown()
    window.close()


def test_replay_knockout_shows_the_recorded_ablation(replay_with_retention, tmp_path, qtbot):
    from nlviz.recording.reader import Recording
    from nlviz.replay.ablation import ablate_recorded
    _window, rc, retention = replay_with_retention
    path = tmp_path / "run.h5"
    record_session(path, steps=200)
    assert rc.open(str(path))
    assert retention.spec is not None and retention.spec.level_names == rc.rec.spec.level_names
    rc.transport.seek(150)
    levels = retention.levels
    levels.level_box.setCurrentText("cms1")
    with qtbot.waitSignal(rc.ablation.runner.finished, timeout=60_000):
        qtbot.mouseClick(levels.knockout_button, Qt.MouseButton.LeftButton)
    with Recording.open(path) as rec:
        want = ablate_recorded(rec, 150, "cms1")
    intact = next(r for r in want if not r.variant)
    ablated = next(r for r in want if r.variant)
    assert ablated.variant == "knockout:cms1"
    role = Qt.ItemDataRole.UserRole
    t = levels.table
    assert t.rowCount() == len(intact.losses)
    np.testing.assert_allclose([t.item(r, 1).data(role) for r in range(t.rowCount())],
                               intact.losses, rtol=1e-6)
    np.testing.assert_allclose([t.item(r, 2).data(role) for r in range(t.rowCount())],
                               ablated.losses, rtol=1e-6)
    assert "cms1 knocked out" in levels.result_label.text()
    print(f"replay ablation took {rc.ablation.runner.seconds:.2f} s")


def test_replay_restore_snaps_to_a_recorded_state(replay_with_retention, tmp_path, qtbot):
    from nlviz.replay.branch import branchable_steps
    _window, rc, retention = replay_with_retention
    path = tmp_path / "run.h5"
    record_session(path, steps=200)                    # states every 16 steps
    assert rc.open(str(path))
    states = [int(s) for s in branchable_steps(rc.rec)]
    rc.transport.seek(190)
    levels = retention.levels
    levels.level_box.setCurrentText("memory")
    levels.set_cursor(100)
    want = max(s for s in states if s <= 100)
    with qtbot.waitSignal(rc.ablation.runner.finished, timeout=60_000):
        qtbot.mouseClick(levels.restore_button, Qt.MouseButton.LeftButton)
    assert levels.step_spin.value() == want
    assert f"memory restored to step {want:,}" in levels.result_label.text()
    assert levels.table.rowCount() == len(rc.rec.spec.regime_names or (0,))
