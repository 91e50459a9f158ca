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

from engine.session import Session  # noqa: E402
from nlviz.config_loader import load_config  # noqa: E402


@pytest.fixture
def tiny_session() -> Session:
    """A fresh engine session on the tiny preset (CPU, seed 0)."""
    return Session(load_config("tiny"))


@pytest.fixture
def gui(qtbot, tiny_session):
    """A window + controller on the tiny preset, started; stopped cleanly afterwards."""
    from nlviz.qt.controller import Controller
    from nlviz.qt.main_window import MainWindow

    window = MainWindow()
    controller = Controller(window, tiny_session, preset="tiny", capacity=20_000)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.worker.started, timeout=5000):
        controller.start()
    yield window, controller
    controller.stop_and_wait(10_000)
    window.allow_close = True
    window.close()


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
