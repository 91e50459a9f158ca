"""The whole window: controls move the engine exactly, views hold the engine's data,
stream switching, faults, invalid config, clean close while recording."""
from __future__ import annotations

import numpy as np

from engine.config import StreamConfig
from engine.frames import METRIC_INDEX, FrameBatch
from nlviz.buffers import AT_UPDATE_METRICS


def _spy_batches(session):
    """Record every batch the engine returns (runs in the worker thread)."""
    produced: list[FrameBatch] = []
    original = session.step

    def step(n: int = 1) -> FrameBatch:
        batch = original(n)
        produced.append(batch)
        return batch

    session.step = step
    return produced


def _step(qtbot, controller, n):
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        controller.step(n)


def test_step_controls_move_exactly(qtbot, gui):
    window, controller = gui
    session = controller.worker.session
    _step(qtbot, controller, 1)
    assert session.step_count == 1
    window.controls.n_spin.setValue(25)
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        window.controls.stepn_action.trigger()                  # Shift+Right
    assert session.step_count == 26
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        window.controls.step_action.trigger()                   # Right
    assert session.step_count == 27
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        window.controls.play_action.trigger()                   # Space
    qtbot.waitUntil(lambda: controller.buffers.total > 60, timeout=10_000)
    with qtbot.waitSignal(controller.worker.paused, timeout=5000) as blocker:
        window.controls.play_action.trigger()
    assert blocker.args[0] == session.step_count == controller.buffers.total
    qtbot.waitUntil(lambda: window.controls.play_action.text() == "Play", timeout=2000)


def test_plot_items_hold_engine_data(qtbot, gui):
    window, controller = gui
    produced = _spy_batches(controller.worker.session)
    _step(qtbot, controller, 150)
    controller.redrawer.force()
    frames = FrameBatch.concat(produced)
    assert len(frames) == 150
    metrics = window.metrics
    for name in metrics.metrics:
        mi = METRIC_INDEX[name]
        for li, curve in enumerate(metrics.curves[name]):
            x, y = curve.xData, curve.yData
            want_x = frames.step.astype(np.float64)
            want_y = frames.level[:, li, mi]
            if name in AT_UPDATE_METRICS:
                sel = frames.fired[:, li] > 0
                want_x, want_y = want_x[sel], want_y[sel]
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(y, want_y)
            dx, dy = curve.getData()
            assert dx is not None and len(dx) == len(dy) > 0
    fired = window.metrics.raster_image.image
    assert fired.shape[0] == len(controller.worker.session.spec.levels)
    assert fired.sum() == frames.fired.sum()


def test_smoothing_keeps_raw_faint(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 80)
    window.controls.smooth_slider.setValue(60)
    raw = window.metrics.raw_curves["surprise"][0]
    main = window.metrics.curves["surprise"][0]
    assert raw.isVisible()
    view = controller.buffers.history()
    np.testing.assert_array_equal(raw.yData, view.level[0, 0])
    assert not np.array_equal(main.yData, raw.yData)
    assert main.yData[0] == raw.yData[0]                  # debiased: starts at the data


def test_switch_stream_mid_run(qtbot, gui):
    window, controller = gui
    session = controller.worker.session
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > 30, timeout=10_000)
    with qtbot.waitSignal(controller.worker.eventLogged, timeout=5000) as blocker:
        controller.switch_stream(StreamConfig("noise", (("std", 0.5),)))
    assert "stream" in blocker.args[0]
    at = controller.buffers.total
    qtbot.waitUntil(lambda: controller.buffers.total > at + 30, timeout=10_000)
    with qtbot.waitSignal(controller.worker.paused, timeout=5000):
        controller.pause()
    assert session.config.stream.name == "noise"
    assert "noise" in window.stream_panel.current.text().lower()
    steps = controller.buffers.history().step
    assert (np.diff(steps) == 1).all() and steps[0] == 0


def test_stream_panel_refuses_bad_parameter(qtbot, gui):
    window, _ = gui
    panel = window.stream_panel
    panel.combo.setCurrentText("noise")
    panel.edits["std"].setText("-3")
    with qtbot.assertNotEmitted(panel.switchRequested):
        panel.switch_button.click()
    assert "std" in panel.error.text()


def test_engine_fault_reaches_ui_and_app_survives(qtbot, gui, monkeypatch):
    window, controller = gui
    session = controller.worker.session
    _step(qtbot, controller, 10)
    model = session.model
    real = model.step
    calls = {"n": 0}

    def broken(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom in the memory update")
        return real(x)

    monkeypatch.setattr(model, "step", broken)
    with qtbot.waitSignal(controller.worker.faulted, timeout=10_000) as blocker:
        controller.step(20)
    message, step, _level = blocker.args
    assert "boom" in message and step == 12
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=2000)
    assert "boom" in window.banner.text() and "12" in window.banner.text()
    assert controller.buffers.total == 12                   # the steps before the fault are shown
    assert not controller.playing
    monkeypatch.setattr(model, "step", real)
    _step(qtbot, controller, 5)                             # still usable
    assert session.step_count == 17


def test_config_panel_refuses_invalid_input(qtbot, gui):
    window, controller = gui
    panel = window.config_panel
    panel.edits["model.titans.momentum"].setText("1.5")
    with qtbot.assertNotEmitted(panel.applyRequested):
        panel._on_apply()
    assert "model.titans.momentum" in panel.error.text()
    panel.set_config(controller.worker.session.config)
    panel.edits["model.titans.momentum"].setText("0.7")
    with qtbot.waitSignal(controller.worker.eventLogged, timeout=5000) as blocker:
        panel._on_apply()
    assert "live" in blocker.args[0]
    assert controller.worker.session.config.model.titans.momentum == 0.7


def test_rebuild_changes_levels(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 10)
    with qtbot.waitSignal(controller.worker.specChanged, timeout=10_000):
        controller.set_param("model.cms.periods", [2, 4, 8])
    qtbot.waitUntil(lambda: len(window.metrics.curves["surprise"]) == 8, timeout=2000)
    _step(qtbot, controller, 10)
    assert controller.buffers.total == 10
    assert controller.worker.session.step_count == 20        # global step count continues
    assert window.heatmap.level_box.count() == 8


def test_close_while_running_and_recording_leaves_complete_file(qtbot, gui, tmp_path):
    from nlviz.recording.reader import Recording

    window, controller = gui
    path = tmp_path / "run.h5"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=5000) as blocker:
        controller.record(str(path))
    assert blocker.args[0] is True
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > 100, timeout=20_000)
    window.close()                                          # first close: finish cleanly
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20_000)
    assert not controller.thread.isRunning()
    steps = controller.worker.session.step_count
    with Recording.open(str(path)) as rec:
        assert not rec.recovered
        assert len(rec.steps) == steps
        np.testing.assert_array_equal(rec.steps, np.arange(steps))
