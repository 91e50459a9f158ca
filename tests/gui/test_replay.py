"""Replay window (issue 5): exact recorded values on the live panels, seek/snap, playback
speed, summary views, sparse panels, tail, continue-live hook, drops, recent files,
malformed files as one line."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.frames import METRIC_INDEX
from nlviz.recording.writer import Recorder
from nlviz.series.views import AT_UPDATE_METRICS
from tests.support.synthetic import (
    expected_level,
    state_template,
    synthetic_batch,
    synthetic_spec,
)

N_LEVELS = 3


def write_run(path, rows=2000, n_levels=N_LEVELS, config=None, step_every=1, close=True,
              state_every=256):
    """A synthetic recording; ``step_every`` > 1 records only every k-th global step."""
    spec = synthetic_spec(n_levels)
    rec = Recorder(path, spec, config or {"model": {"d": 8}, "run": {"seed": 0}},
                   device="cpu", stream="synthetic",
                   state_template=state_template(spec) if state_every else None)
    for start in range(0, rows, 5000):
        b = synthetic_batch(spec, start, min(5000, rows - start), sparse_every=64,
                            state_every=state_every)
        if step_every > 1:
            b.step = b.step * step_every
            for r in (*b.probes, *b.snapshots, *b.events):
                object.__setattr__(r, "step", r.step * step_every)
            b.states.clear()
        rec.append(b)
    if close:
        rec.close()
    return rec


@pytest.fixture
def run2k(tmp_path):
    path = tmp_path / "run.h5"
    write_run(path)
    return str(path)


def _curve(window, metric, level):
    """The row of ``level`` showing ``metric`` (a column quantity; selecting it redraws)."""
    if window.metrics.quantity != metric:
        window.metrics.set_quantity(metric)
    return window.metrics.rows.curves[level]


def _data(window, metric, level):
    """The item's data (``xData``/``yData``: what it was given, before view clipping)."""
    c = _curve(window, metric, level)
    return c.xData, c.yData


def test_replay_shows_exactly_the_recorded_values(replay, tmp_path):
    # 800 rows: fewer than 2 per pixel, so the metrics panel draws every row undecimated
    window, rc = replay
    run = str(tmp_path / "short.h5")
    write_run(run, rows=800)
    assert rc.open(run)
    spec = synthetic_spec(N_LEVELS)
    assert rc.player.cursor == 799 and window.deck.summary_label.text() == ""
    steps = np.arange(800)
    want = expected_level(spec, steps)
    fired = ((steps[:, None] + 1) % np.asarray(spec.update_periods)[None, :] == 0)
    for m in ("surprise", "drift_init", "weight_norm", "update_norm", "contribution"):
        for li in range(N_LEVELS):
            x, y = _data(window, m, li)
            wx, wy = steps.astype(np.float64), want[:, li, METRIC_INDEX[m]]
            if m in AT_UPDATE_METRICS:
                wx, wy = wx[fired[:, li]], wy[fired[:, li]]
            np.testing.assert_array_equal(x, wx)
            np.testing.assert_array_equal(y, wy)
    # the cursor is the end of the data: seek back and the curves stop there
    rc.transport.seek(634)
    x, y = _data(window, "surprise", 1)
    assert x[-1] == 634 and len(x) == 635
    np.testing.assert_array_equal(y, want[:635, 1, 0])
    # a 500-step window ending at the cursor
    window.front.width_box.addItem("500 steps")
    rc.set_width(500)
    x, _ = _data(window, "surprise", 0)
    assert (x[0], x[-1]) == (135, 634)
    assert rc.visible_range() == (135, 634)
    img = window.metrics.raster_image.image
    assert img.shape[0] == N_LEVELS and img[0].all()           # L0 fires every step
    rate = window.metrics.cadence.rate                         # events / steps per column
    assert (rate[0] == 1).all() and rate[1].max() <= 1


def test_seek_lands_on_the_requested_or_nearest_recorded_step(replay, tmp_path):
    window, rc = replay
    path = tmp_path / "gaps.h5"
    write_run(path, rows=500, step_every=3)                    # steps 0, 3, 6, ...
    assert rc.open(path)
    assert rc.transport.seek(300) == 300
    assert rc.transport.seek(301) == 300 and rc.transport.seek(302) == 303            # snaps to recorded steps
    assert rc.transport.seek(10**9) == 1497 and rc.transport.seek(-5) == 0
    assert window.front.timeline.cursor_line.value() == 0
    assert rc.transport.step(+1) == 3 and rc.transport.step(+10) == 33 and rc.transport.step(-2) == 27
    assert rc.transport.end() == 1497 and rc.transport.home() == 0
    window.front.timeline.n_spin.setValue(50)
    window.front.timeline.fwd_n_button.click()
    assert rc.player.cursor == 150
    window.front.timeline.back_button.click()
    assert rc.player.cursor == 147
    x, _ = _data(window, "surprise", 0)
    assert x[-1] == 147
    assert "step 147 / 1,497" in window.front.timeline.step_label.text()


def test_scrub_requests_are_throttled_and_the_newest_wins(qtbot, replay, run2k):
    window, rc = replay
    rc.open(run2k)
    n0 = len(rc.redraw_times)
    for s in range(100, 1100, 100):                            # a fast drag: 10 requests
        rc.transport.request_seek(s)
    assert rc.player.cursor == 100                              # first at once, rest pending
    assert len(rc.redraw_times) == n0 + 1
    qtbot.waitUntil(lambda: rc.player.cursor == 1000, timeout=2000)
    assert len(rc.redraw_times) == n0 + 2                       # stale requests dropped
    window.front.timeline.cursor_line.setValue(500)                   # a drag of the cursor line
    window.front.timeline._on_drag(window.front.timeline.cursor_line)
    window.front.timeline._on_drag_finished(window.front.timeline.cursor_line)
    qtbot.waitUntil(lambda: rc.player.cursor == 500, timeout=2000)


@pytest.mark.parametrize("mode,speed,dt,rows", [
    ("max", 2.0, 0.001, 2000),               # 1,000,000 rows/s at 1x
    ("max", 0.1, 0.01, 1000),
    ("real_time", 0.5, 0.1, 50),             # the recording ran 1,000 steps/s
    ("real_time", 10.0, 0.01, 100),
])
def test_playback_at_speed_advances_by_the_expected_count(replay, tmp_path, mode, speed, dt,
                                                          rows):
    window, rc = replay
    path = tmp_path / "big.h5"
    write_run(path, rows=20_000)
    rc.open(path)
    tl = window.front.timeline
    tl.mode_box.setCurrentIndex([v for _, v in
                                 (("", "real_time"), ("", "every_step"), ("", "max"))].index(mode))
    tl.speed_box.setCurrentIndex(tl.speed_box.findData(speed))
    assert rc.player.speed == speed and rc.player.mode.value == mode
    rc.transport.home()
    rc.transport.play()
    rc.play_timer.stop()                      # drive the clock by hand
    c0 = rc.player.cursor
    rc.tick(dt)
    assert rc.player.cursor - c0 == rows
    rc.tick(dt)
    assert rc.player.cursor - c0 == 2 * rows
    x, _ = _data(window, "surprise", 0)
    assert x[-1] == rc.player.cursor
    rc.transport.pause()


def test_every_step_mode_moves_one_row_per_tick_and_stops_at_the_end(replay, run2k):
    window, rc = replay
    rc.open(run2k)
    window.front.timeline.mode_box.setCurrentIndex(1)
    window.front.timeline.speed_box.setCurrentIndex(window.front.timeline.speed_box.findData(4.0))
    assert rc.play_timer.interval() >= 1
    rc.transport.seek(1990)
    rc.transport.play()
    rc.play_timer.stop()
    for i in range(1, 10):
        assert rc.tick(0.5) == 1990 + i
    rc.tick(0.5)
    assert rc.player.cursor == 1999 and not rc.player.playing    # loop off: stops
    assert not window.front.timeline.playing


def test_loop_selection_wraps_inside_the_selection(replay, run2k):
    window, rc = replay
    rc.open(run2k)
    tl = window.front.timeline
    tl.loop_box.setCurrentIndex(2)                               # shows the region
    assert tl.selection.isVisible()
    tl.set_selection(100, 199)
    tl._on_selection()
    assert rc.player.selection == (100, 199)
    tl.mode_box.setCurrentIndex(1)                               # every step
    rc.transport.play()
    rc.play_timer.stop()
    assert rc.player.cursor == 100
    for _ in range(100):
        rc.tick(0.1)
    assert rc.player.cursor == 100 and rc.player.playing
    rc.transport.pause()


def test_timer_playback_runs_and_pauses(qtbot, replay, run2k):
    window, rc = replay
    rc.open(run2k)
    rc.transport.home()
    window.front.timeline.play_button.click()
    assert rc.play_timer.isActive() and window.front.timeline.playing
    qtbot.waitUntil(lambda: rc.player.cursor > 30, timeout=5000)
    window.front.timeline.play_button.click()
    assert not rc.play_timer.isActive() and not rc.player.playing


def test_large_visible_range_uses_the_pyramid_and_says_so(replay, tmp_path):
    window, rc = replay
    path = tmp_path / "long.h5"
    write_run(path, rows=60_000, state_every=0)
    rc.open(path)
    assert rc.frame.is_summary
    text = window.deck.summary_label.text()
    assert text.startswith("showing a summary (min/max of") and "-step buckets)" in text
    x, _ = _data(window, "surprise", 0)
    assert len(x) < 20_000 and x[-1] <= 59_999
    s = rc.frame.summary
    assert np.all(s.level_max >= s.level_min)
    window.front.width_box.setCurrentIndex(2)                        # 5k steps: exact rows
    assert window.deck.summary_label.text() == "" and not rc.frame.is_summary
    np.testing.assert_array_equal(rc.frame.view.step, np.arange(55_000, 60_000))
    np.testing.assert_array_equal(rc.frame.view.level[2, 0], expected_level(
        synthetic_spec(N_LEVELS), np.arange(55_000, 60_000))[:, 2, 0])
    x, _ = _data(window, "surprise", 0)
    assert x[0] >= 55_000 and x[-1] <= 59_999


def test_sparse_panels_follow_the_cursor(replay, run2k):
    window, rc = replay
    rc.open(run2k)
    rc.transport.seek(700)
    # probes/snapshots every 64 steps at 63, 127, ...: at or before / nearest 700
    assert "up to step 639" in window.forgetting.caption.text()
    from nlviz.analysis.forgetting_split import split_forgetting
    from nlviz.qt.panels.forgetting import bin_centres
    probes = rc.src.probes_at(700)
    assert probes[-1].step == 639 and len(probes) == 10
    h = rc.src.history(None, 700)           # regimes at write and evaluation time
    bins = split_forgetting(probes, rc.rec.spec, h.step, h.regime)
    assert {b.level for b in bins} == set(rc.rec.spec.level_names)
    assert "unknown" not in {b.relation for b in bins}
    for b in bins:
        c = window.forgetting.curves[(b.level, b.relation)]
        np.testing.assert_array_equal(c.xData, bin_centres(b.edges))
        np.testing.assert_array_equal(c.yData, b.mean)
    assert "at step 703" in window.heatmap.caption.text()       # nearest snapshot
    np.testing.assert_array_equal(window.heatmap.image.image, np.full((4, 4), 703, np.float32))
    assert "step <b>700</b>" in window.inputs.regime_label.text()
    rc.transport.seek(10)
    assert "no probe evaluation" in window.forgetting.caption.text()
    assert "0: start synthetic stream" in window.event_log.toPlainText()


def test_recovered_file_opens_with_a_note_and_is_tailed(replay, tmp_path):
    window, rc = replay
    path = tmp_path / "growing.h5"
    w = write_run(path, rows=1000, close=False)
    w.flush()
    try:
        assert rc.open(path)
        assert window.banner.isVisibleTo(window)
        assert "not closed cleanly" in window.banner.text() and "\n" not in window.banner.text()
        assert rc.tail.timer.isActive() and rc.player.cursor == 999
        w.append(synthetic_batch(synthetic_spec(N_LEVELS), 1000, 500, sparse_every=64,
                                 state_every=0))
        w.flush()
        assert rc.tail.poll() == 1500
        assert rc.player.cursor == 1499                          # was at the end: follows
        assert rc.frame.view.step[-1] == 1499
        x, _ = _data(window, "surprise", 0)
        assert 1490 <= x[-1] <= 1499
    finally:
        w.close()


def test_malformed_files_are_one_line_and_the_window_stays_usable(replay, run2k, tmp_path):
    window, rc = replay
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    for bad in (junk, other, tmp_path / "missing.h5"):
        assert not rc.open(bad)
        text = window.status.message.text()
        assert text and "\n" not in text and "Traceback" not in text and str(bad) in text
    assert rc.player is None
    assert rc.open(run2k)                                        # still usable
    assert not rc.open(junk)                                     # a bad file keeps the old
    assert rc.player is not None and rc.player.n == 2000


def test_open_remembers_recent_files_and_accepts_drops(replay, run2k, tmp_path):
    from nlviz.qt.file_menu import recent_files
    window, rc = replay
    other = tmp_path / "b.h5"
    write_run(other, rows=300)
    rc.dialogs.ask_path = lambda *a: run2k
    assert rc.open_dialog()
    assert recent_files()[0] == os.path.abspath(run2k)
    window.dropEvent(_drop(other))
    assert rc.rec.path == str(other) and rc.player.n == 300
    assert recent_files()[:2] == [os.path.abspath(other), os.path.abspath(run2k)]


def _drop(*paths):
    """A drop event of ``paths`` (its mime data kept alive until the next call: the event
    holds a bare pointer to it)."""
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    _drop.mime = md
    return QDropEvent(QPointF(10, 10), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)


class FakeLive:
    """A ``LiveTarget`` that records what a branch asked of it."""

    def __init__(self, busy=""):
        self.calls, self.busy = [], busy

    def continue_from(self, recording_path, step, record_path=None):
        self.calls.append(("continue", recording_path, step, record_path))

    def switch_stream(self, stream):
        self.calls.append(("stream", stream.name))

    def activity(self):
        return self.busy


def _answers(rc, path, stream=lambda options: options[0], confirm=lambda title, text: True):
    asked = []
    rc.dialogs.ask_path = lambda kind, title, default, filters: asked.append(default) or path
    rc.dialogs.ask_item = lambda title, label, options: stream(options)
    rc.dialogs.confirm = confirm
    return asked


def test_continue_live_calls_the_controller_with_the_cursor_step(replay, run2k, tmp_path):
    window, rc = replay
    live = FakeLive()
    rc.branching.live_provider = lambda: live
    asked = _answers(rc, str(tmp_path / "branch.h5"))         # the recorded stream
    rc.open(run2k)
    rc.transport.seek(100)                                    # states at 255, 511, ...
    assert not window.front.timeline.branch_button.isEnabled()
    rc.transport.seek(600)
    assert window.front.timeline.branch_button.isEnabled()
    window.front.timeline.branch_button.click()
    assert asked == [run2k[:-3] + "-branch-600.h5"]
    assert live.calls == [("continue", run2k, 600, str(tmp_path / "branch.h5"))]
    rc.branching.live_provider = lambda: None                 # no live engine
    assert not rc.continue_live()
    assert "not available" in window.status.message.text()


def test_continue_live_asks_before_replacing_a_busy_live_run(replay, run2k, tmp_path):
    window, rc = replay
    questions = []
    live = FakeLive(busy="at step 1,234, recording")
    rc.branching.live_provider = lambda: live
    _answers(rc, str(tmp_path / "b.h5"),
             confirm=lambda title, text: questions.append(text) or False)  # the user says no
    rc.open(run2k)
    rc.transport.seek(600)
    assert not rc.continue_live()
    assert live.calls == [] and "at step 1,234, recording" in questions[0]
    assert "cancelled" in window.status.message.text()
    rc.dialogs.confirm = lambda title, text: True                 # the user says yes
    assert rc.continue_live() and [c[2] for c in live.calls] == [600]


def test_continue_live_on_another_stream_switches_after_the_restart(replay, run2k, tmp_path):
    window, rc = replay
    live = FakeLive()
    rc.branching.live_provider = lambda: live
    offered = []
    _answers(rc, str(tmp_path / "b.h5"), stream=lambda options: offered.extend(options) or "noise")
    rc.open(run2k)
    rc.transport.seek(600)
    assert rc.continue_live()
    assert [c[0] for c in live.calls] == ["continue", "stream"] and live.calls[1][1] == "noise"
    assert live.calls[0][2] == 600
    assert offered[0].startswith("same stream") and "associative_recall" in offered
    assert "on stream noise" in window.status.message.text()
    rc.dialogs.ask_item = lambda title, label, options: None   # cancelled: nothing happens
    live.calls.clear()
    assert not rc.continue_live() and live.calls == []


def _bare_live_window(qtbot):
    """A live window (no engine) with the File menu as the app installs it."""
    from nlviz.qt.app import install_live_menu
    from nlviz.qt.live.front import live_window
    live = live_window()
    qtbot.addWidget(live)
    return live, install_live_menu(live, controller=None)


def test_live_window_opens_replays_and_reports_bad_files(qtbot, run2k, tmp_path):
    live, menu = _bare_live_window(qtbot)
    hooks = menu.opener
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"nope")
    try:
        assert hooks.open(str(junk)) is None
        assert "not an HDF5 file" in live.status.message.text()
        w = hooks.open(run2k)
        assert w is not None and w.isVisible() and hooks.replay_controller.player.n == 2000
    finally:
        hooks.close_all()
        live.close()


def test_dropping_a_recording_on_the_live_window_opens_the_replay(qtbot, run2k, tmp_path):
    from nlviz.qt.main_window import MainWindow
    from nlviz.qt.replay.window import ReplayFront
    live, menu = _bare_live_window(qtbot)
    hooks = menu.opener
    other = tmp_path / "b.h5"
    write_run(other, rows=300)
    try:
        live.dropEvent(_drop(run2k))
        w = hooks.replay_window
        assert isinstance(w, MainWindow) and isinstance(w.front, ReplayFront)
        assert w.isVisible() and hooks.replay_controller.rec.path == run2k
        assert hooks.replay_controller.player.n == 2000
        live.dropEvent(_drop(other))                     # the same replay window, new file
        assert hooks.replay_window is w and hooks.replay_controller.player.n == 300
        live.dropEvent(_drop(run2k, other))               # two files: a compare window
        assert len(hooks.comparing.windows) == 1
        assert hooks.comparing.windows[0].cmp.labels == ["run", "b"]
    finally:
        hooks.close_all()
        live.close()
