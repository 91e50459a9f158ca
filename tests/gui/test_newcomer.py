"""The newcomer's first minute, on real widgets and the real engine: the app starts paused
(``--play`` plays), Space works from the first frame, every panel names what actually
runs, Enter applies a config field, list fields are not cut off, the status bar and the
Input panel name the same step, the Record button's file has events, File > Open reuses
one sensibly sized replay window, the heatmap's colours follow the data, y labels keep
apart."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit

from engine.frames import SnapshotRecord
from tests.gui.conftest import START_TIMEOUT_MS


def _args(**kw):
    base = dict(preset="tiny", overrides=[], stream=None, device=None, seed=None,
                screenshot=None, light=False, play=False, steps=0, record=None,
                window_size=None, replay=None)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def launched(qtbot, qapp, request):
    """``nlviz.qt.app.launch`` as ``run_app`` does it (without the event loop)."""
    from nlviz.qt.app import build, install_live_menu, launch
    made = []

    def make(**kw):
        args = _args(**kw)
        window, controller = build(args)
        qtbot.addWidget(window)
        install_live_menu(window, controller)
        window.resize(1200, 780)
        made.append((window, controller))
        with qtbot.waitSignal(controller.worker.started, timeout=START_TIMEOUT_MS):
            launch(qapp, window, controller, args)
            # before the engine is up: the first frame must already be true
            make.first_frame = (window.front.stream_panel.combo.currentText(),
                                window.front.stream_panel.current.text(),
                                window.status.rate.text())
        return window, controller

    yield make
    for window, controller in made:
        assert controller.stop_and_wait(30_000)
        window.allow_close = True
        window.close()


def test_starts_paused_and_space_plays_from_the_first_frame(qtbot, launched):
    window, controller = launched()
    qtbot.wait(300)                                  # a playing engine runs ~1000 steps here
    assert not controller.playing and controller.buffers.total == 0
    assert window.front.controls.play_action.text() == "Play"
    focus = QApplication.focusWidget() or window.focusWidget()
    assert focus is not None and not isinstance(focus, (QAbstractSpinBox, QLineEdit))
    assert window.metrics.isAncestorOf(focus) or focus is window.metrics
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    with qtbot.waitSignal(controller.worker.resumed, timeout=10_000):
        qtbot.keyClick(focus, Qt.Key_Space)
    qtbot.waitUntil(lambda: controller.buffers.total > 20, timeout=20_000)
    with qtbot.waitSignal(controller.worker.paused, timeout=10_000):
        qtbot.keyClick(focus, Qt.Key_Space)


def test_play_flag_starts_playing(qtbot, launched):
    window, controller = launched(play=True)
    qtbot.waitUntil(lambda: controller.playing, timeout=10_000)
    qtbot.waitUntil(lambda: controller.buffers.total > 20, timeout=20_000)
    assert window.front.controls.play_action.text() == "Pause"


def test_stream_panel_names_the_starting_stream_from_the_first_frame(qtbot, launched):
    # not the combo's first entry: a panel that shows its default would fail here
    window, controller = launched(stream="multi_timescale")
    combo, current, rate = launched.first_frame
    assert combo == "multi_timescale"
    assert current.startswith("starting: multi_timescale")
    assert rate == "paused"
    assert controller.worker.session.config.stream.name == "multi_timescale"
    assert window.front.stream_panel.current.text().startswith("running: ")


def test_enter_in_a_config_field_applies_it(qtbot, gui):
    window, controller = gui
    edit = window.front.config_panel.edits["model.titans.lr"]
    edit.setText("0.02")
    with qtbot.waitSignal(window.front.config_panel.applyRequested, timeout=2000) as sent, \
            qtbot.waitSignal(controller.worker.eventLogged, timeout=10_000) as logged:
        qtbot.keyClick(edit, Qt.Key_Return)
    assert sent.args[0] == [("model.titans.lr", 0.02)]
    assert "param" in logged.args[0] and "model.titans.lr" in logged.args[0]
    qtbot.waitUntil(lambda: controller.worker.session.config.model.titans.lr == 0.02,
                    timeout=5000)


def test_list_fields_are_not_cut_off(qtbot):
    from nlviz.config_loader import load_config
    from nlviz.qt.live.front import live_window
    window = live_window()
    qtbot.addWidget(window)
    cfg = load_config("tiny", ["model.cms.periods=[2, 8, 32, 128, 512]",
                               "model.cms.lr=[0.02, 0.01, 0.005, 0.0025, 0.00125]"]).validate()
    window.front.config_panel.set_config(cfg, "tiny")
    window.resize(1200, 780)
    window.show()
    dock = window.findChild(type(window.forgetting.parent()), "dock_config")
    dock.raise_()
    qtbot.waitUntil(lambda: window.front.config_panel.isVisible(), timeout=2000)
    for path in ("model.cms.periods", "model.cms.lr"):
        edit = window.front.config_panel.edits[path]
        text = edit.text()
        assert text.startswith("[") and text.endswith("]")
        room = edit.width() - 12                     # frame and text margins
        assert edit.fontMetrics().horizontalAdvance(text) <= room, (path, text, edit.width())
        assert text in edit.toolTip()
    window.close()


def test_status_bar_and_input_panel_name_the_same_step(qtbot, gui):
    window, controller = gui
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        controller.step(150)
    controller.redrawer.force()
    assert window.status.step.text() == "step 149"
    assert "150 steps done" in window.status.step.toolTip()
    assert "step <b>149</b>" in window.inputs.regime_label.text()


def test_record_button_file_has_events(qtbot, gui, tmp_path):
    from nlviz.recording.reader import Recording
    window, controller = gui
    path = tmp_path / "button.h5"
    with qtbot.waitSignal(controller.worker.resumed, timeout=10_000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > 50, timeout=20_000)
    window.front.controls.file_edit.setText(str(path))
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000) as on:
        window.front.controls.record_action.trigger()               # mid-run, as a user does
    assert on.args[0] is True
    start = controller.buffers.total
    qtbot.waitUntil(lambda: controller.buffers.total > start + 100, timeout=20_000)
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000) as off:
        window.front.controls.record_action.trigger()
    assert off.args[0] is False
    with Recording.open(str(path)) as rec:
        assert not rec.recovered
        events = list(rec.events)
        kinds = [e.kind for e in events]
        steps = rec.steps
        assert kinds[0] == "start" and kinds[-1] == "stop", kinds
        assert events[0].step == steps[0] and events[-1].step == steps[-1] + 1
        assert "recording started" in events[0].detail


def test_file_open_reuses_one_replay_window_sized_like_the_live_one(qtbot, gui, tmp_path):
    from nlviz.qt.app import install_live_menu
    from nlviz.qt.main_window import MainWindow
    from nlviz.qt.replay.window import ReplayFront
    from tests.gui.test_replay import write_run
    window, controller = gui
    window.resize(900, 640)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_run(a, rows=500)
    write_run(b, rows=700)
    menu = install_live_menu(window, controller)
    hooks = menu.opener
    try:
        first = hooks.open(str(a))
        second = hooks.open(str(b))
        assert first is second and first is not None
        shown = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, MainWindow) and isinstance(w.front, ReplayFront)
                 and w.isVisible()]
        assert shown == [first]
        assert hooks.replay_controller.rec.n_rows == 700
        screen = window.screen().availableGeometry().size()
        want = window.size().boundedTo(screen).expandedTo(first.minimumSizeHint())
        assert first.size() == want and first.height() == 640   # not 1600x1000
        assert hooks.open(str(tmp_path / "missing.h5")) is None    # one line, same window
        assert "missing.h5" in window.status.message.text()
        assert hooks.replay_controller.rec.n_rows == 700
        texts = [a.text() for a in window.file_menu.actions()]
        assert texts[-1] == "&Quit" and texts[0].startswith("&Open")
    finally:
        hooks.close_all()              # the test leaves no window alive


def _snap(step, scale, outlier=0.0):
    rng = np.random.default_rng(step)
    w = (rng.standard_normal((8, 8)) * scale).astype(np.float32)
    w[0, 0] += outlier
    return SnapshotRecord(step=step, weights=(w,), updates=(w * 0.1,))


def test_heatmap_colour_range_follows_each_snapshot(qtbot):
    from engine.frames import LevelSpec, RunSpec
    from nlviz.qt.panels.heatmap import HeatmapPanel, symmetric_level
    panel = HeatmapPanel()
    qtbot.addWidget(panel)
    spec = RunSpec(levels=(LevelSpec("memory", "titans", 1, (8, 8)),), d_in=4, probe_size=4)
    panel.set_levels(spec)
    big, small = _snap(1, 1.0), _snap(2, 0.001)
    panel.set_snapshot(big)
    lo, hi = panel.color_range
    assert lo == -hi and hi == pytest.approx(symmetric_level(big.weights[0]))
    assert 1.0 < hi < 4.0
    panel.set_snapshot(small)                          # shrunk 1000x: not faded to flat
    lo2, hi2 = panel.color_range
    assert hi2 == pytest.approx(symmetric_level(small.weights[0])) and hi2 < 0.004
    assert f"±{hi2:.3g}" in panel.caption.text()
    assert panel.colorbar.levels() == (lo2, hi2)
    spike = _snap(3, 0.001, outlier=50.0)              # one outlier does not wash it out
    panel.set_snapshot(spike)
    assert panel.color_range[1] < 0.01
    panel.hold_box.setChecked(True)                    # hold: the range stays
    held = panel.color_range
    panel.set_snapshot(big)
    assert panel.color_range == held
    panel.hold_box.setChecked(False)
    assert panel.color_range[1] == pytest.approx(symmetric_level(big.weights[0]))


def test_y_labels_keep_apart_on_short_axes(qtbot):
    from nlviz.qt.panels.axes import nice_spacing, thin_labels
    # 9 log ticks 0.02..0.9 on a 60 px axis: only labels 19+ px apart are kept, decades first
    values = list(np.log10([0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]))
    strings = ["0.02", "0.03", "0.05", "0.1", "0.2", "0.3", "0.5", "0.7", "0.9"]
    px_per_unit = 60 / (values[-1] - values[0])
    kept = thin_labels(values, strings, px_per_unit, 19.0,
                       [abs(v - round(v)) < 1e-9 for v in values])
    assert kept[3] == "0.1"
    pos = [v * px_per_unit for v, s in zip(values, kept) if s]
    assert len(pos) >= 2 and min(np.diff(sorted(pos))) >= 19.0
    assert kept.count("") >= 5
    # linear: 0..8 on 60 px with 19 px per label: spacing 2 (5 labels, 15 px) -> 5
    assert nice_spacing(8.0, 60.0, 19.0, 2.0) == 5.0
    assert nice_spacing(8.0, 600.0, 19.0, 2.0) == 2.0  # room enough: unchanged


def test_input_and_forgetting_axes_thin_labels_in_a_small_window(qtbot):
    from nlviz.qt.panels.axes import min_gap
    from nlviz.qt.panels.forgetting import ForgettingPanel
    from nlviz.qt.panels.inputs import InputPanel
    panel = InputPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 160)
    panel.show()
    axis = panel.strip_plot.getAxis("left")
    qtbot.waitUntil(lambda: axis.geometry().height() > 0, timeout=2000)
    px = axis.geometry().height()
    major = axis.tickSpacing(-0.5, 15.5, px)[0][0]
    gap = major * px / 16.0
    assert min_gap(axis) > 10
    assert gap >= min_gap(axis) - 1e-6, (major, px)
    fp = ForgettingPanel()
    qtbot.addWidget(fp)
    fp.resize(300, 160)
    fp.show()
    left = fp.plot.getAxis("left")
    qtbot.waitUntil(lambda: left.geometry().height() > 0, timeout=2000)
    left.setRange(np.log10(0.02), np.log10(0.9))
    values = list(np.log10([0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]))
    kept = [s for s in left.logTickStrings(values, 1, None) if s]
    assert 1 <= len(kept) < len(values)
