"""Ending the app the clean way: File > Quit (Ctrl+Q) and Ctrl-C in the terminal stop the
engine at a step boundary and close the recording (a complete file, not "recovered")."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtGui import QKeySequence

ROOT = Path(__file__).resolve().parents[2]


def test_file_quit_stops_engine_and_closes_recording(qtbot, gui, tmp_path):
    from nlviz.qt.app import install_live_menu
    from nlviz.recording.reader import Recording
    window, controller = gui
    menu = install_live_menu(window, controller)
    assert menu.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    assert menu.quit_action in window.file_menu.actions()
    path = tmp_path / "quit.h5"
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=10_000):
        controller.record(str(path))
    with qtbot.waitSignal(controller.worker.resumed, timeout=10_000):
        controller.play()
    qtbot.waitUntil(lambda: controller.buffers.total > 100, timeout=20_000)
    quits: list[bool] = []
    window.quitRequested.connect(lambda: quits.append(True))
    menu.quit_action.trigger()                               # File > Quit
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert quits == [True]
    assert not controller.engine_thread.isRunning()
    steps = controller.worker.session.step_count
    with Recording.open(str(path)) as rec:
        assert not rec.recovered
        np.testing.assert_array_equal(rec.steps, np.arange(steps))
        kinds = [e.kind for e in rec.events]
    assert kinds[-2:] == ["pause", "stop"], kinds


def _rows(path: Path) -> int:
    """Rows a running writer has committed so far (0 while it cannot be read yet)."""
    try:
        import h5py
        with h5py.File(path, "r", locking=False, swmr=True) as f:
            return int(f["status/rows_committed"][0])
    except (OSError, KeyError, ValueError, IndexError):
        return 0


def test_ctrl_c_in_the_terminal_quits_cleanly_with_a_complete_recording(tmp_path):
    from nlviz.recording.reader import Recording
    out = tmp_path / "sigint.h5"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "main.py", "--preset", "tiny", "--play",
                             "--record", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)     # its own group, as in a terminal
    try:
        deadline = time.monotonic() + 120               # bounded: the engine imports torch
        while time.monotonic() < deadline and proc.poll() is None and _rows(out) < 100:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
        assert _rows(out) >= 100, "the engine did not start recording in time"
        os.killpg(proc.pid, signal.SIGINT)              # Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "nlviz: interrupted" in err and "Traceback" not in err
    with Recording.open(str(out)) as rec:
        assert not rec.recovered
        n = len(rec.steps)
        assert n >= 100
        np.testing.assert_array_equal(rec.steps, np.arange(n))
        kinds = [e.kind for e in rec.events]
    assert kinds[0] == "start" and "resume" in kinds and kinds[-2:] == ["pause", "stop"], kinds
