"""GUI test setup: offscreen Qt, isolated QSettings, the tiny preset, cyclic garbage
collected on the GUI thread, and leak checks (windows, threads)."""
from __future__ import annotations

import gc
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")          # before any Qt import
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="nlviz-settings-")  # own QSettings

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QThread
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from nlviz.config_loader import load_config
from tests.gui import gui_thread_signals

gui_thread_signals.install()      # waitSignal callbacks run on the GUI thread (see module)

START_TIMEOUT_MS = 60_000          # the engine process imports torch (1-2 s, more under load)


@pytest.fixture
def tiny_config():
    """The tiny preset (CPU, seed 0); the engine process builds its session from it."""
    return load_config("tiny")


@pytest.fixture
def gui(qtbot, tiny_config):
    """A window + controller on the tiny preset, started; stopped cleanly afterwards."""
    from nlviz.qt.live.controller import Controller
    from nlviz.qt.live.front import live_window

    window = live_window()
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


def _windows() -> dict[int, QWidget]:
    """Live parentless windows except menus (pyqtgraph gives every plot a parentless menu
    that dies with its plot)."""
    return {id(w): w for w in QApplication.topLevelWidgets()
            if w.parentWidget() is None and not isinstance(w, QMenu)}


def _running_threads() -> list[QThread]:
    return [o for o in gc.get_objects()
            if issubclass(type(o), QThread) and shiboken6.isValid(o) and o.isRunning()]


@pytest.fixture(scope="session", autouse=True)
def gui_thread_gc(qapp):
    """Cyclic garbage collected on the GUI thread only, as in the app (see gc_guard)."""
    from nlviz.qt import gc_guard
    collector = gc_guard.install()
    assert collector is not None and not gc.isenabled()
    yield collector


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    """Fail a test that leaves a visible top-level widget behind, a window still alive
    after its test (closed but never deleted), or a running ``QThread``."""
    before_visible = _visible_top_levels()
    before = set(_windows())
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    qapp.processEvents()
    gc.collect()                      # on this (GUI) thread: what only cycles held goes now
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    leaked = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and id(w) not in before_visible]
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"
    alive = [type(w).__name__ for i, w in _windows().items() if i not in before]
    assert not alive, f"windows left alive after the test (close and delete them): {alive}"
    running = _running_threads()
    for t in running:                  # stop them so the next tests are not affected
        t.quit()
        t.wait(5000)
    assert not running, f"QThreads still running after the test: " \
                        f"{[t.objectName() or type(t).__name__ for t in running]}"


@pytest.fixture(autouse=True)
def no_cross_thread_timer_use(qtlog):
    """Fail a test during which a GUI-thread timer was stopped or freed on another thread
    (Qt's "Timers cannot be stopped from another thread": the dangling timer segfaults
    later, in whichever test processes events then)."""
    yield
    bad = [r.message for r in qtlog.records if "another thread" in r.message]
    assert not bad, f"Qt objects used from the wrong thread: {bad[:3]}"


@pytest.fixture
def replay(qtbot):
    """An empty replay window and its controller (shared by the replay test modules)."""
    from nlviz.qt.replay.app import open_replay
    window, rc = open_replay(None)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    yield window, rc
    rc.shutdown()
    window.close()
