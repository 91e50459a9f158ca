"""Live and replay share one main window class, one deck of panels, one File menu and one
way to take a picture."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QImage, QKeySequence

from tests.gui.test_replay import write_run

MENU = ["&Open recording…", "Open &recent", "&Compare recordings…", "", "&Export",
        "&Screenshot…", "", "&Close window", "&Quit"]
EXPORTS = ["Plot: loss and baselines", "Plot: all step plots (loss, level rows, cadence)",
           "Plot: update cadence", "Plot: forgetting curves", "Plot: heatmap", "",
           "Visible range as CSV…"]


@pytest.fixture
def fronts(qtbot):
    """A live window (no engine) and a replay window, each with its File menu."""
    from nlviz.qt.app import install_live_menu
    from nlviz.qt.live.front import live_window
    from nlviz.qt.replay.app import open_replay
    live = live_window()
    qtbot.addWidget(live)
    live_menu = install_live_menu(live, controller=None)
    replay, rc = open_replay(None)
    qtbot.addWidget(replay)
    yield live, live_menu, replay, rc
    live_menu.opener.close_all()
    rc.shutdown()
    replay.close()
    live.close()


def test_one_window_class_and_one_deck_for_both_fronts(fronts):
    from nlviz.qt.live.front import LiveFront
    from nlviz.qt.main_window import MainWindow
    from nlviz.qt.panels.deck import PanelDeck
    from nlviz.qt.replay.window import ReplayFront
    live, _, replay, _ = fronts
    assert type(live) is type(replay) is MainWindow
    assert isinstance(live.front, LiveFront) and isinstance(replay.front, ReplayFront)
    for w in (live, replay):
        assert isinstance(w.deck, PanelDeck)
        for name in ("metrics", "forgetting", "heatmap", "inputs", "event_log"):
            assert getattr(w, name) is getattr(w.deck, name)
    assert type(live.banner) is type(replay.banner)
    docks = sorted(d.objectName() for d in live.findChildren(type(live.forgetting.parent())))
    assert docks == ["dock_config", "dock_events", "dock_forgetting_curves", "dock_input",
                     "dock_memory_heatmap", "dock_retention", "dock_stream"]
    rdocks = sorted(d.objectName() for d in replay.findChildren(type(live.forgetting.parent())))
    assert rdocks == ["replay_dock_events", "replay_dock_forgetting_curves", "replay_dock_input",
                      "replay_dock_memory_heatmap", "replay_dock_retention", "replay_dock_run"]
    assert replay.deck.cursor_lines and not live.deck.cursor_lines   # replay has a cursor


def test_one_file_menu_on_both_fronts_with_the_same_actions_in_order(fronts):
    from nlviz.qt.file_menu import FileMenu
    live, live_menu, replay, _ = fronts
    replay_menu = FileMenu.of(replay)
    assert FileMenu.of(live) is live_menu and type(replay_menu) is FileMenu
    for w, menu in ((live, live_menu), (replay, replay_menu)):
        assert [m.title() for m in w.menuBar().findChildren(type(menu.export_menu))
                if m.title() == "&File"] == ["&File"]          # one File menu
        assert [a.text() for a in w.file_menu.actions()] == MENU
        assert menu.texts() == MENU
        assert [a.text() for a in menu.export_menu.actions()] == EXPORTS
        assert menu.open_action.shortcut() == QKeySequence("Ctrl+O")
        assert menu.quit_action.shortcut() == QKeySequence("Ctrl+Q")
        assert menu.close_action.shortcut() == QKeySequence("Ctrl+W")
    assert not live_menu.csv_action.isEnabled()        # the live window shows no recording
    assert replay_menu.csv_action.isEnabled()
    assert replay.front.export_button.menu() is replay_menu.export_menu


def test_screenshot_is_one_path_for_both_fronts(fronts, tmp_path):
    from nlviz.qt import exporting, file_window, screenshot
    from nlviz.qt.file_menu import FileMenu
    from nlviz.qt.live import screenshot as live_screenshot
    from nlviz.qt.replay import app as replay_app
    from nlviz.qt.training import app as training_app
    assert exporting.save_picture is screenshot.save_picture
    assert live_screenshot.grab_now is screenshot.grab_now
    assert file_window.run_screenshot is screenshot.run_screenshot
    assert replay_app.run_file_window is training_app.run_file_window is \
        file_window.run_file_window
    live, live_menu, replay, rc = fronts
    run = tmp_path / "run.h5"
    write_run(run, rows=300)
    assert rc.open(str(run))
    for w, menu, name in ((live, live_menu, "live"), (replay, FileMenu.of(replay), "replay")):
        w.resize(1000, 700)
        w.show()
        png = tmp_path / f"{name}.png"
        menu.exporter.dialogs.ask_path = lambda *a, p=png: str(p)
        menu.screenshot_action.trigger()                       # File > Screenshot…
        img = QImage(str(png))
        assert (img.width(), img.height()) == (1000, 700)
        assert w.status.message.text() == f"saved {png}"
        svg = tmp_path / f"{name}.svg"
        assert menu.exporter.screenshot(str(svg)) == str(svg)
        assert "<svg" in svg.read_text(encoding="utf-8")
        bad = tmp_path / f"{name}.jpg"
        assert menu.exporter.screenshot(str(bad)) is None and not bad.exists()
        assert "export as .png or .svg" in w.status.message.text()


def test_panels_clear_and_name_the_nearest_snapshot(qtbot):
    """The panel methods a presenter uses instead of editing panel internals."""
    import numpy as np

    from engine.frames import LevelSpec, RunSpec, SnapshotRecord
    from nlviz.qt.panels.forgetting import ForgettingPanel
    from nlviz.qt.panels.heatmap import HeatmapPanel
    spec = RunSpec(levels=(LevelSpec("L0", "titans", 1, (4, 4)),), d_in=4, probe_size=2)
    forgetting = ForgettingPanel()
    qtbot.addWidget(forgetting)
    forgetting.set_levels(spec)
    first = forgetting.curves[(spec.level_names[0], "same")]
    first.setData([1.0, 2.0], [0.5, 0.25])
    forgetting.clear("no probe evaluation at or before step 10")
    assert len(first.xData or []) == 0                   # cleared (pyqtgraph: None)
    assert forgetting.caption.text() == "no probe evaluation at or before step 10"
    heatmap = HeatmapPanel()
    qtbot.addWidget(heatmap)
    heatmap.set_levels(spec)
    w = np.full((4, 4), 2.0, np.float32)
    snap = SnapshotRecord(step=703, weights=(w,), updates=(w,))
    heatmap.set_snapshot(snap, cursor=700)
    assert heatmap.caption.text().endswith("this snapshot) (nearest snapshot to step 700)")
    heatmap.hold_box.setChecked(True)                  # a redraw keeps the note
    assert heatmap.caption.text().endswith("held) (nearest snapshot to step 700)")
    heatmap.set_snapshot(snap, cursor=703)
    assert heatmap.caption.text().endswith("held)")
    heatmap.set_snapshot(snap)
    assert "nearest" not in heatmap.caption.text()


def test_status_bar_shows_the_recorder_and_only_the_replay_numbers(qtbot):
    from nlviz.qt.status import StatusPanel
    from nlviz.recording.stats import RecorderStats
    live = StatusPanel(engine=True)
    qtbot.addWidget(live)
    live.set_recording(RecorderStats("/tmp/x/run.h5", 1234, 2_500_000, 0.95, 0.0, 0.1))
    assert live.record.text() == "● REC run.h5 2.5 MB, 1,234 rows, queue 95%, back-pressure 0.0s"
    live.set_recording(RecorderStats("/tmp/x/run.h5", 10, 1_000_000, 0.1, 0.0, 0.1))
    assert live.record.text() == "● REC run.h5 1.0 MB, 10 rows, queue 10%"
    live.set_recording(None)
    assert live.record.text() == "not recording"
    replay = StatusPanel(engine=False)
    qtbot.addWidget(replay)
    replay.show()
    assert replay.fps.isVisible() and replay.fps.text() == ""
    assert not any(w.isVisible() for w in (replay.device, replay.rate, replay.step,
                                           replay.record, replay.memory))
