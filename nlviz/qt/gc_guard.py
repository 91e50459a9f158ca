"""Python's cyclic garbage collector, run on the GUI thread only.

CPython runs a cyclic collection in whichever thread happens to cross the allocation
threshold. In this process that includes the engine worker's ``QThread`` and any Python
thread (a recorder, a test's writer). Many Qt objects are owned by Python and freed only
when a reference cycle is collected (a controller and its redrawer, pyqtgraph's parentless
``ViewBoxMenu``/``QMenu`` of every plot, a window kept by an attribute cycle). Freeing such
an object off the GUI thread cannot unregister its timers ("QObject::killTimer: Timers
cannot be stopped from another thread"): the GUI thread's timer list keeps a dangling
entry and the next ``QTimerInfoList::activateTimers`` segfaults, at a random later point.

``install()`` turns automatic collection off and collects from a ``QTimer`` on the GUI
thread instead (same generation thresholds, checked every ``INTERVAL_MS``), so Qt objects
held in cycles are always destroyed on the thread that owns them.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

INTERVAL_MS = 250
OBJECT_NAME = "nlviz_gui_thread_gc"


class GuiThreadCollector(QObject):
    """Collects cyclic garbage on the GUI thread on a timer; owned by the application.

    Parameters
    ----------
    app : the ``QCoreApplication`` (parent: the collector lives and dies with it).
    interval_ms : how often the generation counts are checked.
    """

    def __init__(self, app: QCoreApplication, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(app)
        self.setObjectName(OBJECT_NAME)
        self.threshold = gc.get_threshold()
        self.collections = 0                # collections run (for tests and diagnostics)
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_ms))
        self.timer.timeout.connect(self.check)
        self.destroyed.connect(_enable_gc)  # never leave the process without a collector
        gc.disable()
        self.timer.start()

    def check(self) -> int:
        """Collect the generations whose counts crossed their thresholds (GUI thread only);
        returns the unreachable objects found."""
        if QThread.currentThread() is not self.thread():
            return 0
        l0, l1, l2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if l0 <= t0:
            return 0
        gen = 2 if (l1 > t1 and l2 > t2) else 1 if l1 > t1 else 0
        self.collections += 1
        return gc.collect(gen)

    def stop(self) -> None:
        """Stop collecting here and give collection back to CPython."""
        self.timer.stop()
        gc.enable()


def _enable_gc(*_: object) -> None:
    gc.enable()


def installed() -> GuiThreadCollector | None:
    """The application's collector, if one was installed."""
    app = QCoreApplication.instance()
    if app is None:
        return None
    found = app.findChild(GuiThreadCollector, OBJECT_NAME)
    return found if isinstance(found, GuiThreadCollector) else None


def install(interval_ms: int = INTERVAL_MS) -> GuiThreadCollector | None:
    """Collect cyclic garbage on the GUI thread only (idempotent). Call on the GUI thread
    once a ``QApplication`` exists; returns the collector (None without an application)."""
    app = QCoreApplication.instance()
    if app is None:
        return None
    found = installed()
    if found is not None:
        if not found.timer.isActive():
            gc.disable()
            found.timer.start()
        return found
    if QThread.currentThread() is not app.thread():
        raise RuntimeError("gc_guard.install() must be called on the GUI thread")
    return GuiThreadCollector(app, interval_ms)


__all__ = ["INTERVAL_MS", "GuiThreadCollector", "install", "installed"]
