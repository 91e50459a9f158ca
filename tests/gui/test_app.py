"""The whole window with the engine in its child process: controls move the engine exactly,
views hold the engine's data, stream switching, faults (engine errors and a killed engine
process), invalid config, clean close while recording, continuing a recording live."""
from __future__ import annotations

import os
import signal

import numpy as np

from engine.config import StreamConfig
from engine.frames import METRIC_INDEX
from nlviz.config_loader import load_config
from nlviz.qt.live.worker import Restart
from nlviz.series.views import AT_UPDATE_METRICS
from tests.host.loops import FAULTY_LOOP, InjectFault


def _headless(n: int, chunks=(1, 7, 100)):
    """The same run computed here, without the GUI, in other batch sizes."""
    from engine.frames import FrameBatch
    from engine.session import Session
    session = Session(load_config("tiny"))
    out, done, i = [], 0, 0
    while done < n:
        k = min(chunks[i % len(chunks)], n - done)
        out.append(session.step(k))
        done += k
        i += 1
    return FrameBatch.concat(out)


def _step(qtbot, controller, n):
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        controller.step(n)


def test_step_controls_move_exactly(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 1)
    assert controller.worker.session.step_count == 1
    window.front.controls.n_spin.setValue(25)
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        window.front.controls.stepn_action.trigger()                  # Shift+Right
    assert controller.worker.session.step_count == 26
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        window.front.controls.step_action.trigger()                   # Right
    assert controller.worker.session.step_count == 27
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        window.front.controls.play_action.trigger()                   # Space
    qtbot.waitUntil(lambda: controller.buffers.total > 60, timeout=10_000)
    with qtbot.waitSignal(controller.worker.paused, timeout=5000) as blocker:
        window.front.controls.play_action.trigger()
    assert blocker.args[0] == controller.worker.session.step_count == controller.buffers.total
    qtbot.waitUntil(lambda: window.front.controls.play_action.text() == "Play", timeout=2000)


def test_plot_items_hold_engine_data(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 150)
    controller.redrawer.force()
    frames = _headless(150)                     # the engine process computed the same run
    assert len(frames) == 150
    metrics = window.metrics
    spec = controller.worker.session.spec
    assert len(metrics.rows.curves) == len(spec.levels)
    steps = frames.step.astype(np.float64)
    for key in ("surprise", "drift_init", "weight_norm", "update_norm"):
        metrics.set_quantity(key)               # the rows redraw at once
        mi = METRIC_INDEX[key]
        for li, curve in enumerate(metrics.rows.curves):
            x, y = curve.xData, curve.yData
            want_x, want_y = steps, frames.level[:, li, mi]
            if key in AT_UPDATE_METRICS:
                sel = frames.fired[:, li] > 0
                want_x, want_y = want_x[sel], want_y[sel]
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-7)
            dx, dy = curve.getData()
            assert dx is not None and len(dx) == len(dy) > 0
    loss = spec.global_metrics.index("outer_loss")
    np.testing.assert_array_equal(metrics.loss.raw.xData, steps)
    np.testing.assert_allclose(metrics.loss.raw.yData,
                               np.maximum(frames.scalars[:, loss], 1e-12), rtol=1e-5, atol=1e-7)
    assert metrics.cadence.bucket == 1                      # zoomed in: one step per column
    rate = metrics.cadence.rate
    assert rate.shape[0] == len(spec.levels)
    assert rate.sum() == frames.fired.sum()


def test_smoothing_keeps_raw_faint(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 80)
    window.front.controls.smooth_slider.setValue(60)
    raw = window.metrics.rows.raw[0]
    main = window.metrics.rows.curves[0]
    assert window.metrics.quantity == "surprise"
    assert raw.isVisible()
    view = controller.buffers.history()
    np.testing.assert_array_equal(raw.yData, view.level[0, METRIC_INDEX["surprise"]])
    assert not np.array_equal(main.yData, raw.yData)
    assert main.yData[0] == raw.yData[0]                  # debiased: starts at the data


def test_switch_stream_mid_run(qtbot, gui):
    window, controller = gui
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
    assert controller.worker.session.config.stream.name == "noise"
    assert "noise" in window.front.stream_panel.current.text().lower()
    # the bands and the retention tabs name the new stream's regimes, not the old ones
    assert controller.worker.session.regime_names == ("-",)
    assert window.metrics.loss.names == ("-",)
    assert window.deck.retention.spec.regime_names == ("-",)
    steps = controller.buffers.history().step
    assert (np.diff(steps) == 1).all() and steps[0] == 0


def test_stream_panel_refuses_bad_parameter(qtbot, gui):
    window, _ = gui
    panel = window.front.stream_panel
    panel.combo.setCurrentText("noise")
    panel.edits["std"].setText("-3")
    with qtbot.assertNotEmitted(panel.switchRequested):
        panel.switch_button.click()
    assert "std" in panel.error.text()


def test_engine_fault_reaches_ui_and_app_survives(qtbot, gui, monkeypatch):
    window, controller = gui
    # an engine process whose loop accepts InjectFault (a test loop, chosen by its path)
    controller.worker.loop = FAULTY_LOOP
    with qtbot.waitSignal(controller.worker.started, timeout=60_000):
        controller.request.emit(Restart(load_config("tiny")))
    _step(qtbot, controller, 10)
    # the 3rd model step call in the engine process raises (then the model works again)
    controller.request.emit(InjectFault(3, "boom in the memory update"))
    with qtbot.waitSignal(controller.worker.faulted, timeout=10_000) as blocker:
        controller.step(20)
    message, step, _level = blocker.args
    assert "boom" in message and step == 12
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=2000)
    assert "boom" in window.banner.text() and "12" in window.banner.text()
    assert controller.buffers.total == 12                   # the steps before the fault are shown
    assert not controller.playing
    _step(qtbot, controller, 5)                             # still usable
    assert controller.worker.session.step_count == 17


def test_config_panel_refuses_invalid_input(qtbot, gui):
    window, controller = gui
    panel = window.front.config_panel
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
    qtbot.waitUntil(lambda: len(window.metrics.rows.curves) == 8, timeout=2000)
    assert window.metrics.rows.texts[-1].startswith("cms3 · every 8")
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
    assert not controller.engine_thread.isRunning()
    steps = controller.worker.session.step_count
    with Recording.open(str(path)) as rec:
        assert not rec.recovered
        assert len(rec.steps) == steps
        np.testing.assert_array_equal(rec.steps, np.arange(steps))


def test_step_n_exact_across_the_process_boundary(qtbot, gui, tmp_path):
    """Step N moves the engine by exactly N (recorded, buffered and reported), also right
    after playing and with a recording on."""
    from nlviz.recording.reader import Recording

    window, controller = gui
    path = tmp_path / "exact.h5"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=5000):
        controller.record(str(path))
    total = 0
    for n in (1, 2, 3, 64, 257, 1):
        with qtbot.waitSignal(controller.worker.paused, timeout=20_000) as blocker:
            controller.step(n)
        total += n
        assert blocker.args == [total] == [controller.worker.session.step_count] == [controller.buffers.total]
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > total + 100, timeout=20_000)
    seen: list[int] = []
    controller.worker.paused.connect(seen.append)
    controller.step(5)                          # pauses the running engine, then 5 more
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=20_000)
    assert seen[0] > total + 100 and seen[1] == seen[0] + 5
    end = seen[1]
    assert end == controller.worker.session.step_count == controller.buffers.total
    view = controller.buffers.history()
    np.testing.assert_array_equal(view.step, np.arange(end))
    controller.redrawer.force()
    assert window.status.step.text() == f"step {end - 1:,}"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(None)
    with Recording.open(str(path)) as rec:
        np.testing.assert_array_equal(rec.steps, np.arange(end))
    want = _headless(end, chunks=(end,))
    np.testing.assert_allclose(view.level.transpose(2, 0, 1), want.level, rtol=1e-5, atol=1e-7)


def test_killed_engine_process_shows_fault_and_app_survives(qtbot, gui):
    window, controller = gui
    _step(qtbot, controller, 10)
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > 30, timeout=10_000)
    pid = controller.worker.pid
    assert pid is not None and pid != os.getpid()
    with qtbot.waitSignal(controller.worker.faulted, timeout=10_000) as blocker:
        os.kill(pid, signal.SIGKILL)
    assert "killed" in blocker.args[0]
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=2000)
    assert "engine process" in window.banner.text()
    qtbot.waitUntil(lambda: not controller.playing, timeout=2000)
    with qtbot.waitSignal(controller.worker.rejected, timeout=5000):
        controller.step(3)                      # no engine: refused, not hung
    with qtbot.waitSignal(controller.worker.started, timeout=60_000):
        controller.reset()                      # a fresh engine process
    assert controller.worker.pid not in (None, pid)
    _step(qtbot, controller, 5)
    assert controller.worker.session.step_count == 5 == controller.buffers.total


def test_speed_box_refuses_bad_text_and_emits_a_speed_once(qtbot, gui):
    window, _ = gui
    controls = window.front.controls
    box = controls.speed_box
    for bad in ("abc", "-5", "0"):
        box.setEditText(bad)
        with qtbot.assertNotEmitted(controls.speedChanged):
            box.lineEdit().editingFinished.emit()
        assert "refused" in box.toolTip()
    box.setEditText("250")
    with qtbot.waitSignal(controls.speedChanged, timeout=1000) as blocker:
        box.lineEdit().editingFinished.emit()
    assert blocker.args == [250.0] and "refused" not in box.toolTip()
    with qtbot.assertNotEmitted(controls.speedChanged):   # same value: no second request
        box.lineEdit().editingFinished.emit()


def test_speed_setting_survives_an_engine_restart(qtbot, gui):
    """The toolbar's speed is re-sent to a restarted engine process (Reset after a kill)."""
    _, controller = gui
    controller._on_controls_speed(40.0)
    _step(qtbot, controller, 5)
    pid = controller.worker.pid
    with qtbot.waitSignal(controller.worker.faulted, timeout=10_000):
        os.kill(pid, signal.SIGKILL)
    with qtbot.waitSignal(controller.worker.started, timeout=60_000):
        controller.reset()
    start = controller.worker.session.step_count
    with qtbot.waitSignal(controller.worker.resumed, timeout=5000):
        controller.play()
    qtbot.wait(1500)
    with qtbot.waitSignal(controller.worker.paused, timeout=5000):
        controller.pause()
    ran = controller.worker.session.step_count - start
    assert 20 <= ran <= 120, ran     # ~40 steps/s for 1.5 s; "max" would run thousands


def _record(qtbot, controller, path, steps):
    """Record ``steps`` live steps to ``path`` and close the file."""
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=5000):
        controller.record(str(path))
    _step(qtbot, controller, steps)
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(None)
    return path


def test_continue_from_recording_branches_live(qtbot, gui, tmp_path):
    from nlviz.recording.reader import Recording

    _, controller = gui
    parent = _record(qtbot, controller, tmp_path / "parent.h5", 1100)  # a state at 1024
    branch = tmp_path / "branch.h5"
    with qtbot.waitSignals([controller.worker.started, controller.worker.recordingChanged],
                           timeout=60_000):
        controller.continue_from(str(parent), 1050, str(branch))
    assert controller.worker.session.step_count == 1051
    _step(qtbot, controller, 20)
    assert controller.worker.session.step_count == 1071
    steps = controller.buffers.history().step
    np.testing.assert_array_equal(steps, np.arange(1051, 1071))
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(None)
    with Recording.open(str(branch)) as rec:
        np.testing.assert_array_equal(rec.steps, np.arange(1051, 1071))
        assert rec.parent_run == "parent.h5" and rec.parent_step == 1050


def test_continue_from_recording_on_another_stream(qtbot, gui, tmp_path):
    """Branch, then switch stream at once (what "continue on another stream" sends): the
    switch is applied by the restored engine at the branch step and recorded there."""
    from engine.config import StreamConfig
    from nlviz.recording.reader import Recording

    _, controller = gui
    parent = _record(qtbot, controller, tmp_path / "parent.h5", 1030)
    branch = tmp_path / "branch.h5"
    with qtbot.waitSignals([controller.worker.started, controller.worker.recordingChanged],
                           timeout=60_000):
        controller.continue_from(str(parent), 1025, str(branch))
        controller.switch_stream(StreamConfig(name="noise"))
    _step(qtbot, controller, 10)
    assert controller.worker.session.config.stream.name == "noise"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(None)
    with Recording.open(str(branch)) as rec:
        np.testing.assert_array_equal(rec.steps, np.arange(1026, 1036))
        switches = [e for e in rec.events if e.kind == "stream"]
        assert len(switches) == 1 and switches[0].step == 1026
        assert "noise" in switches[0].detail.lower() or "gaussian" in switches[0].detail.lower()


def test_activity_says_what_a_continued_run_would_replace(qtbot, gui, tmp_path):
    _, controller = gui
    assert controller.activity() == ""                     # started, no step yet
    _step(qtbot, controller, 7)
    assert controller.activity() == "at step 7"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(str(tmp_path / "busy.h5"))
    assert controller.activity() == "at step 7, recording"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(None)
