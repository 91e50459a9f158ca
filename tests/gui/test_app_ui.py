"""Live-app UI checks on real values: a NaN fault from a diverging config, the level menu and
log-y, layout persistence (and no remembered preset), the CUDA fallback note."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from nlviz.config_loader import load_config
from tests.gui.conftest import START_TIMEOUT_MS

DIVERGING = ['model.titans.gates="fixed"', "model.titans.lr=50.0",
             "model.titans.proximal=false", "model.titans.retention=1.0"]


def _step(qtbot, controller, n):
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        controller.step(n)


def _started(qtbot, config, preset="tiny"):
    from nlviz.qt.live.controller import Controller
    from nlviz.qt.live.front import live_window
    window = live_window()
    controller = Controller(window, config, preset=preset, capacity=20_000)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.worker.started, timeout=START_TIMEOUT_MS):
        controller.start()
    return window, controller


def _stop(controller, window):
    assert controller.stop_and_wait(30_000)
    window.allow_close = True
    window.close()


def test_diverging_config_nan_fault_reaches_ui_and_reset_recovers(qtbot):
    # headless first: this config really produces a non-finite value within a few steps
    from engine.session import Session
    config = load_config("tiny", DIVERGING)
    session = Session(config)
    with pytest.raises(Exception, match="non-finite"):
        for _ in range(50):
            session.step(1)
    fault_step = session.step_count
    window, controller = _started(qtbot, config)
    try:
        with qtbot.waitSignal(controller.worker.faulted, timeout=20_000) as blocker:
            controller.step(50)
        message, step, level = blocker.args
        assert "non-finite" in message and level
        assert step <= fault_step
        qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=2000)
        text = window.banner.text()
        assert f"step {step}" in text and f"level {level}" in text
        assert not controller.playing
        assert window.front.controls.play_action.text() == "Play"
        assert controller.buffers.total < 50
        before = controller.worker.session.step_count
        with qtbot.waitSignal(controller.worker.eventLogged, timeout=10_000):
            controller.reset()
        qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=2000)
        assert fault_step >= 2                           # one step is still finite
        _step(qtbot, controller, 1)                      # the app still steps after Reset
        assert controller.buffers.total == 1                 # history starts again
        assert controller.worker.session.step_count == before + 1
    finally:
        _stop(controller, window)


def test_level_menu_hides_a_row_and_log_y(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 60)
    panel = window.metrics
    action = panel.rows_menu.actions()[1]
    assert action.text() == panel.rows.texts[1].split(" · η")[0]
    stacked = panel.graphics.ci.items
    assert panel.rows.plots[1] in stacked
    with qtbot.waitSignal(panel.levelToggled, timeout=2000) as blocker:
        action.trigger()
    assert blocker.args == [1, False]
    assert panel.rows.plots[1] not in panel.graphics.ci.items      # the row left the stack
    assert panel.rows.plots[0] in panel.graphics.ci.items
    _step(qtbot, controller, 20)
    controller.redrawer.force()
    assert panel.rows.curves[0].getData()[0][-1] == 79       # visible rows keep following
    assert panel.rows.curves[1].getData()[0][-1] < 79        # the hidden one is not redrawn
    with qtbot.waitSignal(panel.levelToggled, timeout=2000) as blocker:
        action.trigger()
    assert blocker.args == [1, True]
    assert panel.rows.plots[1] in panel.graphics.ci.items

    plot = panel.rows.plots[0]
    assert not plot.getAxis("left").logMode
    panel.log_boxes["rows"].setChecked(True)
    assert plot.getAxis("left").logMode and plot.ctrl.logYCheck.isChecked()
    assert all(p.getAxis("left").logMode for p in panel.rows.plots)
    panel.set_quantity("update_norm")
    curve = panel.rows.curves[0]
    assert len(curve.yData) and (curve.yData >= 1e-12).all()      # clipped before log10
    np.testing.assert_allclose(curve.getData()[1], np.log10(curve.yData), rtol=1e-5)
    panel.log_boxes["rows"].setChecked(False)
    assert not plot.getAxis("left").logMode
    assert panel.loss_plot.getAxis("left").logMode              # the loss plot: log by default
    panel.log_boxes["loss"].setChecked(False)
    assert not panel.loss_plot.getAxis("left").logMode


def test_cuda_fallback_note_in_status_bar(qtbot):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: no fallback")
    window, controller = _started(qtbot, load_config("tiny", None, None, "cuda", None))
    try:
        qtbot.waitUntil(lambda: "not available" in window.status.message.text(), timeout=5000)
        assert "CUDA" in window.status.message.text()
        assert "⚠" in window.status.device.text()
        assert "CUDA" in window.status.device.toolTip()
    finally:
        _stop(controller, window)


def _launch(qtbot, preset):
    from nlviz.qt.app import build
    args = argparse.Namespace(preset=preset, overrides=[], stream=None, device=None, seed=None,
                              screenshot=None, light=False, play=False)
    window, controller = build(args)
    qtbot.addWidget(window)
    return window, controller


def test_layout_persists_but_an_explicit_or_default_preset_wins(qtbot):
    """Only the layout is remembered: a launch without --preset runs the default preset
    even when an older version remembered another one (the README's plain command)."""
    from PySide6.QtCore import QSettings

    from nlviz.qt.panels.deck import SETTINGS_APP, SETTINGS_ORG
    settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
    settings.clear()
    try:
        window, controller = _launch(qtbot, "tiny")
        assert controller.preset == "tiny"
        window.show()
        window.resize(900, 640)             # fits the 800x800 offscreen screen in height
        dock = window.findChild(type(window.forgetting.parent()), "dock_forgetting_curves")
        dock.hide()
        qtbot.waitUntil(lambda: window.height() == 640, timeout=2000)
        window.close()                                   # allow_close: never started
        settings.setValue("last_preset", "tiny")         # as an older version left it
        settings.sync()
        assert settings.value("window/geometry") is not None
        assert settings.value("window/state") is not None

        window2, controller2 = _launch(qtbot, None)      # no --preset: the default one
        assert controller2.preset == "default"
        assert controller2.worker.source == load_config("default").validate()
        assert window2.front.config_panel.preset_box.currentText() == "default"
        window2.restore_layout()
        window2.show()
        assert window2.height() == 640                   # the layout is remembered
        dock2 = window2.findChild(type(dock), "dock_forgetting_curves")
        assert dock2.isHidden()
        other = window2.findChild(type(dock), "dock_memory_heatmap")
        assert not other.isHidden()
        window2.close()

        window3, controller3 = _launch(qtbot, "tiny")    # an explicit flag is obeyed
        assert controller3.preset == "tiny"
        window3.close()
    finally:
        settings.clear()


def test_forgetting_log_axis_labels_only_powers_of_ten(qtbot):
    from nlviz.qt.panels.forgetting import ForgettingPanel
    panel = ForgettingPanel()
    qtbot.addWidget(panel)
    axis = panel.plot.getAxis("bottom")
    axis.setRange(0.3, 2.3)                              # ages 2..200: decades in view
    labels = axis.logTickStrings([1.0, np.log10(30), 2.0], 1, None)
    assert labels[0] and labels[2] and labels[1] == ""
    axis.setRange(0.3, 0.9)                              # inside one decade: keep labels
    assert all(axis.logTickStrings([np.log10(3), np.log10(5)], 1, None))


def test_replay_step_label_elides_and_keeps_full_text(qtbot):
    from nlviz.qt.replay.timeline import ElidedLabel
    label = ElidedLabel("")
    qtbot.addWidget(label)
    text = "step 2,999 / 2,999 · row 3,000/3,000"
    label.setText(text)
    label.resize(60, 20)
    assert label.text() == text == label.toolTip()
    assert label.elided().endswith("…") and len(label.elided()) < len(text)
