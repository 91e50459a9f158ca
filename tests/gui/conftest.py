"""GUI test setup: offscreen Qt, isolated QSettings, the tiny preset, a leak check."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")          # before any Qt import
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="nlviz-settings-")  # own QSettings

import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QCoreApplication, QEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from nlviz.config_loader import load_config  # noqa: E402

START_TIMEOUT_MS = 60_000          # the engine process imports torch (1-2 s, more under load)


@pytest.fixture
def tiny_config():
    """The tiny preset (CPU, seed 0); the engine process builds its session from it."""
    return load_config("tiny")


@pytest.fixture
def gui(qtbot, tiny_config):
    """A window + controller on the tiny preset, started; stopped cleanly afterwards."""
    from nlviz.qt.controller import Controller
    from nlviz.qt.main_window import MainWindow

    window = MainWindow()
    controller = Controller(window, tiny_config, preset="tiny", capacity=20_000)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.worker.started, timeout=START_TIMEOUT_MS):
        controller.start()
    yield window, controller
    assert controller.stop_and_wait(30_000)
    window.allow_close = True
    window.close()


@pytest.fixture(autouse=True)
def no_leaked_engine_processes():
    """Fail a test that leaves an engine child process behind."""
    yield
    import multiprocessing
    import time
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = multiprocessing.active_children()
    for p in left:
        p.kill()
        p.join(2)
    assert not left, f"leaked child processes: {left}"


def _visible_top_levels() -> set[int]:
    return {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    """Fail a test that leaves a visible top-level widget behind (ndv-style leak check)."""
    before = _visible_top_levels()
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    qapp.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and id(w) not in before]
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def replay(qtbot):
    """An empty replay window and its controller (shared by the replay test modules)."""
    from nlviz.qt.replay.controller import open_replay
    window, rc = open_replay(None)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    yield window, rc
    rc.shutdown()
    window.close()
